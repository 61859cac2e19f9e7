import Foundation
import XCTest
@testable import Facekd

/// The whole pipeline (crop -> model -> decode -> heatmap-to-image -> smoothing -> next box) with a
/// synthetic model that renders the true landmarks as Gaussians.
final class LandmarkerTests: XCTestCase {
    let width = 160, height = 120

    /// A face-like K-point layout: eye corners 0 and 1, the rest spread below, rotated by `roll`.
    func face(center: Point, size: Float, roll: Float, k: Int) -> [Point] {
        var pts = [Point(x: -0.35, y: -0.2), Point(x: 0.35, y: -0.2)]
        for i in 2..<k {
            let t = Float(i - 2) / Float(max(k - 3, 1))
            pts.append(Point(x: -0.3 + 0.6 * t, y: 0.1 + 0.3 * sin(Float.pi * t)))
        }
        let r = roll * Float.pi / 180
        return pts.map { p in
            Point(x: center.x + size * (p.x * cos(r) - p.y * sin(r)), y: center.y + size * (p.x * sin(r) + p.y * cos(r)))
        }
    }

    func withFrame<R>(_ body: (PixelImage) throws -> R) throws -> R {
        // An NV12 frame as an iPhone camera delivers it, with padded strides.
        let lumaStride = width + 16, chromaStride = width + 32
        let luma = [UInt8](repeating: 90, count: lumaStride * height)
        let chroma = [UInt8](repeating: 128, count: chromaStride * (height / 2))
        return try luma.withUnsafeBytes { y in
            try chroma.withUnsafeBytes { uv in
                try body(try PixelImage(luma: y, lumaStride: lumaStride, chroma: uv, chromaStride: chromaStride,
                                        width: width, height: height, format: .nv12))
            }
        }
    }

    func testLandmarkerRecoversLandmarksThroughRotatedCrop() throws {
        for decode in ["dark", "argmax"] {
            let card = try ModelCard(json: cardJSON(keypoints: 6, inputSize: 64, heatmapSize: 32, decode: decode))
            let truth = face(center: Point(x: 83.3, y: 57.9), size: 60, roll: 12, k: 6)
            let model = SyntheticModel(card: card, truth: truth)
            let landmarker = try FaceLandmarker(card: card, model: model, smoothing: nil)
            let region = TrackingBox(box: FaceBox(x: 50, y: 30, width: 64, height: 60), rollDegrees: 10)
            model.cropToImage = try Kernels.boxToAffine(region.box, scale: card.cropScale,
                                                        rotationDegrees: region.rollDegrees, outSize: card.inputSize)
            let result = try withFrame { try landmarker.landmarks(in: $0, region: region) }
            XCTAssertEqual(result.cropToImage, model.cropToImage)
            // One heatmap pixel is side/32 = 2.5 image px: DARK is sub-pixel, argmax within a quarter+half pixel.
            let pixel = max(region.box.width, region.box.height) * card.cropScale / 32
            XCTAssertLessThan(maxDistance(result.points, truth), decode == "dark" ? 0.1 * pixel : 0.75 * pixel, decode)
            XCTAssertGreaterThan(result.meanScore, 0.9)
            XCTAssertEqual(result.next.rollDegrees, 12, accuracy: 1.5)
            XCTAssertGreaterThan(result.timings.model, 0)
        }
    }

    func testTrackingBoxIsUprightBoxOfRotatedFace() throws {
        let upright = face(center: Point(x: 70, y: 60), size: 50, roll: 0, k: 9)
        let tilted = face(center: Point(x: 70, y: 60), size: 50, roll: 30, k: 9)
        let a = try TrackingBox.from(landmarks: upright, eyeCorners: (0, 1))
        let b = try TrackingBox.from(landmarks: tilted, eyeCorners: (0, 1))
        XCTAssertEqual(a.rollDegrees, 0, accuracy: 1e-3)
        XCTAssertEqual(b.rollDegrees, 30, accuracy: 1e-3)
        // Same face size whatever the roll; the centre rotates with the face about (70, 60).
        XCTAssertEqual(b.box.width, a.box.width, accuracy: 1e-3)
        XCTAssertEqual(b.box.height, a.box.height, accuracy: 1e-3)
        let expectedCenter = Affine.rotation(degrees: 30, about: Point(x: 70, y: 60)).apply(a.box.center)
        XCTAssertEqual(b.box.center.x, expectedCenter.x, accuracy: 1e-3)
        XCTAssertEqual(b.box.center.y, expectedCenter.y, accuracy: 1e-3)
    }

    func testTrackerDetectsOnceThenTracksAndRedetectsWhenLost() throws {
        let card = try ModelCard(json: cardJSON(keypoints: 8, inputSize: 64, heatmapSize: 32))
        let model = SyntheticModel(card: card, truth: [])
        let landmarker = try FaceLandmarker(card: card, model: model, smoothing: nil)
        let tracker = LandmarkTracker(landmarker: landmarker, minScore: 0.5)
        var detections = 0
        let detectBox = FaceBox(x: 45, y: 25, width: 70, height: 70)

        for frame in 0..<6 {
            let t = Double(frame) / 30
            model.truth = face(center: Point(x: 80 + Float(frame), y: 60), size: 55, roll: Float(frame) * 2, k: 8)
            model.amplitude = frame == 3 ? 0.1 : 1  // frame 3: the face "disappears"
            let region = tracker.region ?? TrackingBox(box: detectBox)
            model.cropToImage = try Kernels.boxToAffine(region.box, scale: card.cropScale,
                                                        rotationDegrees: region.rollDegrees, outSize: card.inputSize)
            let out = try withFrame { img in
                try tracker.process(img, timestamp: t) {
                    detections += 1
                    return detectBox
                }
            }
            let result = try XCTUnwrap(out)
            XCTAssertEqual(out?.detected, frame == 0 || frame == 4, "frame \(frame)")
            if frame == 3 {
                XCTAssertNil(tracker.region, "low scores drop the track")
            } else {
                XCTAssertNotNil(tracker.region)
                // DARK decoding: a small fraction of a heatmap pixel (~2.2 image px here).
                XCTAssertLessThan(maxDistance(result.result.points, model.truth), 0.25, "frame \(frame)")
            }
        }
        XCTAssertEqual(detections, 2)
        XCTAssertEqual(tracker.fps.fps, 30, accuracy: 0.01)
        try tracker.reset()
        XCTAssertNil(try withFrame { img in try tracker.process(img, timestamp: 1.0) { nil } }, "no face")
        XCTAssertEqual(model.calls, 6, "no model run without a face")
    }

    func testLandmarkerChecksModelOutputAgainstCard() throws {
        let card = try ModelCard(json: cardJSON(keypoints: 5, inputSize: 64, heatmapSize: 16))
        let model = SyntheticModel(card: card, truth: face(center: Point(x: 80, y: 60), size: 50, roll: 0, k: 4))
        let landmarker = try FaceLandmarker(card: card, model: model)
        try withFrame { img in
            assertFacekdError(.invalidArgument, "returned 4 heatmaps, the card says 5") {
                try landmarker.landmarks(in: img, region: TrackingBox(box: FaceBox(x: 50, y: 30, width: 60, height: 60)))
            }
        }
        let coords = try ModelCard(json: cardJSON(extra: ["output_type": "coords"]))
        assertFacekdError(.invalidArgument, "needs a heatmap model") { try FaceLandmarker(card: coords, model: model) }
    }

    func testSmoothingReducesJitterOfStillFace() throws {
        let card = try ModelCard(json: cardJSON(keypoints: 6, inputSize: 64, heatmapSize: 32))
        let still = face(center: Point(x: 80, y: 60), size: 50, roll: 0, k: 6)
        let model = SyntheticModel(card: card, truth: still)
        let region = TrackingBox(box: FaceBox(x: 55, y: 35, width: 50, height: 50))
        model.cropToImage = try Kernels.boxToAffine(region.box, scale: card.cropScale, outSize: card.inputSize)
        var generator = SplitMix64(seed: 7)
        func jitterError(_ smoothing: SmootherParams?) throws -> Float {
            let landmarker = try FaceLandmarker(card: card, model: model, smoothing: smoothing)
            var total: Float = 0
            for frame in 0..<60 {
                model.truth = still.map { Point(x: $0.x + generator.uniform(-1, 1), y: $0.y + generator.uniform(-1, 1)) }
                let r = try withFrame { try landmarker.landmarks(in: $0, region: region, timestamp: Double(frame) / 30) }
                if frame >= 20 { total += zip(r.points, still).map { hypotf($0.x - $1.x, $0.y - $1.y) }.reduce(0, +) }
            }
            return total
        }
        let raw = try jitterError(nil)
        let smoothed = try jitterError(SmootherParams(minCutoff: 0.5, beta: 0, dCutoff: 1))
        XCTAssertLessThan(smoothed, 0.6 * raw, "One-Euro at rest must cut the jitter")
    }

    func testFpsMeter() {
        let m = FpsMeter(smoothing: 0.5)
        XCTAssertEqual(m.fps, 0)
        m.tick(0); m.tick(0.1)
        XCTAssertEqual(m.fps, 10, accuracy: 1e-9)
        m.tick(0.15)  // interval 0.05 -> average 0.075
        XCTAssertEqual(m.fps, 1 / 0.075, accuracy: 1e-9)
    }
}

/// Deterministic test noise.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
}
