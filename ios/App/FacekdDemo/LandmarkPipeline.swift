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
    var detectSeconds: Double
    var landmarkSeconds: Double
    var fps: Double
    var tracking: Bool
}

/// Vision finds a face box when none is tracked; everything else (box mapping through
/// `BoxTransform.vision`, roll, crop, CoreML model call, decode, tracking, smoothing) is the C
/// landmarker behind `FaceLandmarker`.
final class LandmarkPipeline {
    let landmarker: FaceLandmarker
    let fps = FpsMeter()
    private let faceRequest = VNDetectFaceRectanglesRequest()

    init() throws {
        let model = try CoreMLHeatmapModel.bundled()
        var options = LandmarkerOptions()
        options.detectorTransform = .vision
        landmarker = try FaceLandmarker(card: model.card, model: model, options: options)
    }

    func process(_ sampleBuffer: CMSampleBuffer) throws -> FrameResult? {
        guard let pixels = CMSampleBufferGetImageBuffer(sampleBuffer) else { return nil }
        let t = CMSampleBufferGetPresentationTimeStamp(sampleBuffer).seconds
        let width = CVPixelBufferGetWidth(pixels), height = CVPixelBufferGetHeight(pixels)
        fps.tick(t)
        var watch = Stopwatch()
        let detections = landmarker.tracking ? nil : try detectFace(pixels, width: width, height: height)
        let detectTime = watch.lap()
        let out = try pixels.withPixelImage { image in
            try landmarker.process(image, detections: detections, timestamp: t)
        }
        let landmarkTime = watch.lap()
        guard let face = out.face else { return nil }
        return FrameResult(points: face.points, imageWidth: width, imageHeight: height, detectSeconds: detectTime,
                           landmarkSeconds: landmarkTime, fps: fps.fps, tracking: landmarker.tracking)
    }

    /// The largest Vision face (its box from Vision's normalised bottom-left origin to pixels; the
    /// eye landmarks, when Vision gives them, as keypoints so the first crop has the face's roll).
    private func detectFace(_ pixels: CVPixelBuffer, width: Int, height: Int) throws -> [Detection] {
        let handler = VNImageRequestHandler(cvPixelBuffer: pixels, orientation: .up, options: [:])
        try handler.perform([faceRequest])
        guard let face = faceRequest.results?.max(by: { $0.boundingBox.width < $1.boundingBox.width }) else {
            return []
        }
        let b = face.boundingBox
        let w = Float(width), h = Float(height)
        let box = FaceBox(x: Float(b.minX) * w, y: Float(1 - b.maxY) * h, width: Float(b.width) * w,
                          height: Float(b.height) * h)
        var keypoints: [Point] = []
        // Vision's roll is in radians; its sign against image coordinates (y down) is not yet checked on a
        // device. A wrong sign is corrected by the landmarker's roll re-crop for moderate angles.
        if let roll = face.roll?.floatValue {
            let d = box.width / 4, c = Point(x: box.x + box.width / 2, y: box.y + box.height / 2)
            let a = -roll
            keypoints = [Point(x: c.x - d * cos(a), y: c.y - d * sin(a)), Point(x: c.x + d * cos(a), y: c.y + d * sin(a))]
        }
        return [Detection(box: box, score: face.confidence, keypoints: keypoints)]
    }
}
#endif
