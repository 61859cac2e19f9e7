#if canImport(AVFoundation) && canImport(UIKit)
import AVFoundation
import Combine
import Facekd
import UIKit

/// Front camera -> upright, mirrored 420f (full-range NV12) frames -> LandmarkPipeline on a serial
/// queue; results are published on the main thread.
final class CameraController: NSObject, ObservableObject, AVCaptureVideoDataOutputSampleBufferDelegate {
    let session = AVCaptureSession()
    @Published var frame: FrameResult?
    @Published var error: String?
    private let queue = DispatchQueue(label: "facekd.camera")
    private var pipeline: LandmarkPipeline?

    func start() {
        AVCaptureDevice.requestAccess(for: .video) { granted in
            guard granted else {
                DispatchQueue.main.async { self.error = "camera access denied" }
                return
            }
            self.queue.async { self.configureAndRun() }
        }
    }

    func stop() { queue.async { self.session.stopRunning() } }

    private func configureAndRun() {
        do {
            pipeline = try LandmarkPipeline()
            session.beginConfiguration()
            session.sessionPreset = .hd1280x720
            guard let device = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .front) else {
                throw FacekdError(.invalidArgument, "no front camera")
            }
            let input = try AVCaptureDeviceInput(device: device)
            if session.canAddInput(input) { session.addInput(input) }
            let output = AVCaptureVideoDataOutput()
            output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String:
                                        kCVPixelFormatType_420YpCbCr8BiPlanarFullRange]
            output.alwaysDiscardsLateVideoFrames = true
            output.setSampleBufferDelegate(self, queue: queue)
            if session.canAddOutput(output) { session.addOutput(output) }
            if let connection = output.connection(with: .video) {
                if connection.isVideoOrientationSupported { connection.videoOrientation = .portrait }
                if connection.isVideoMirroringSupported { connection.isVideoMirrored = true }
            }
            session.commitConfiguration()
            session.startRunning()
        } catch {
            DispatchQueue.main.async { self.error = "\(error)" }
        }
    }

    func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer,
                       from connection: AVCaptureConnection) {
        guard let pipeline = pipeline else { return }
        do {
            let result = try pipeline.process(sampleBuffer)
            DispatchQueue.main.async { self.frame = result }
        } catch {
            try? pipeline.tracker.reset()
            DispatchQueue.main.async { self.error = "\(error)" }
        }
    }
}
#endif
