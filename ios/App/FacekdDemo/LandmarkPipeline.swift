#if canImport(Vision) && canImport(CoreML) && canImport(AVFoundation)
import AVFoundation
import Facekd
import Foundation
import Vision

/// One processed frame for the UI: landmarks in image pixels, the image size, timings, FPS.
struct FrameResult {
    var points: [Point]
    var imageWidth: Int
    var imageHeight: Int
    var timings: StageTimings
    var fps: Double
    var tracking: Bool
}

/// Vision finds the first face box; then the facekd tracker crops each frame from the previous
/// frame's landmarks (box_from_landmarks -> next crop), runs the CoreML model, decodes, smooths.
final class LandmarkPipeline {
    let tracker: LandmarkTracker
    private let faceRequest = VNDetectFaceRectanglesRequest()

    init() throws {
        let model = try CoreMLHeatmapModel.bundled()
        let landmarker = try FaceLandmarker(card: model.card, model: model, smoothing: .default)
        tracker = LandmarkTracker(landmarker: landmarker)
    }

    func process(_ sampleBuffer: CMSampleBuffer) throws -> FrameResult? {
        guard let pixels = CMSampleBufferGetImageBuffer(sampleBuffer) else { return nil }
        let t = CMSampleBufferGetPresentationTimeStamp(sampleBuffer).seconds
        let width = CVPixelBufferGetWidth(pixels), height = CVPixelBufferGetHeight(pixels)
        let out = try pixels.withPixelImage { image in
            try tracker.process(image, timestamp: t) { try self.detectFace(pixels, width: width, height: height) }
        }
        guard let frame = out else { return nil }
        return FrameResult(points: frame.result.points, imageWidth: width, imageHeight: height,
                           timings: frame.result.timings, fps: tracker.fps.fps, tracking: tracker.region != nil)
    }

    /// The largest Vision face box, converted from Vision's normalised bottom-left origin to pixels.
    private func detectFace(_ pixels: CVPixelBuffer, width: Int, height: Int) throws -> FaceBox? {
        let handler = VNImageRequestHandler(cvPixelBuffer: pixels, orientation: .up, options: [:])
        try handler.perform([faceRequest])
        guard let face = faceRequest.results?.max(by: { $0.boundingBox.width < $1.boundingBox.width }) else {
            return nil
        }
        let b = face.boundingBox
        let w = Float(width), h = Float(height)
        return FaceBox(x: Float(b.minX) * w, y: Float(1 - b.maxY) * h, width: Float(b.width) * w,
                       height: Float(b.height) * h)
    }
}
#endif
