import Foundation
import XCTest
@testable import Facekd

/// The Swift shell over fk_landmarker: the golden tracking sequence (tests/golden/sequence.txt)
/// must give the recorded tracks to 1e-4 px, plus thin API checks.
final class LandmarkerTests: XCTestCase {
    /// Replays the recorded outputs, one crop per predict call.
    final class Replay: HeatmapModel {
        let card: ModelCard
        let outputs: [Float]
        let callsN: [Int]
        var face = 0, call = 0, inCall = 0

        init(_ c: GoldenCase, _ card: ModelCard) throws {
            self.card = card
            outputs = try c.floats("outputs")
            callsN = try c.ints("calls_n")
        }

        func predict(input: UnsafeBufferPointer<Float>, size: Int) throws -> Heatmaps {
            precondition(size == card.inputSize && input.count == 3 * size * size)
            let per = card.outputLength
            let values = Array(outputs[(face * per)..<((face + 1) * per)])
            face += 1
            inCall += 1
            if inCall == callsN[call] { call += 1; inCall = 0 }
            return Heatmaps(values: values, keypoints: card.numKeypoints, height: card.heatmapSize,
                            width: card.heatmapSize)
        }
    }

    final class Constant: HeatmapModel {
        let k: Int, h: Int
        var error: Error?
        init(k: Int, h: Int) { self.k = k; self.h = h }
        func predict(input: UnsafeBufferPointer<Float>, size: Int) throws -> Heatmaps {
            if let e = error { throw e }
            return Heatmaps(values: [Float](repeating: 1, count: k * h * h), keypoints: k, height: h, width: h)
        }
    }

    private func near(_ got: [Float], _ want: [Float], _ offset: Int, _ what: String, _ frame: Int) {
        for i in got.indices {
            XCTAssertEqual(got[i], want[offset + i], accuracy: 1e-4, "frame \(frame) \(what)[\(i)]")
        }
    }

    func testGoldenSequenceGivesTheRecordedTracks() throws {
        let c = try XCTUnwrap(GoldenFile.read(GoldenFile.directory.appendingPathComponent("sequence.txt")).first)
        let card = try ModelCard(contentsOf: GoldenFile.directory.appendingPathComponent("sequence_card.json"))
        let model = try Replay(c, card)
        let t = try c.floats("transform")
        var o = LandmarkerOptions()
        o.detectorTransform = BoxTransform(dx: t[0], dy: t[1], sw: t[2], sh: t[3])
        o.recropDegrees = try c.float("recrop_degrees")
        o.maxRecrops = try c.int("max_recrops")
        o.lossThreshold = try c.float("loss_threshold")
        o.minFace = try c.float("min_face")
        o.smoothing = try c.int("smooth") != 0
            ? SmootherParams(minCutoff: c.float("min_cutoff"), beta: c.float("beta"), dCutoff: c.float("d_cutoff")) : nil
        let lm = try FaceLandmarker(card: card, model: model, options: o)
        let data = try c.field("data").bytes
        let w = try c.int("width"), h = try c.int("height"), stride = try c.int("stride")
        let boxes = try c.floats("det_boxes"), scores = try c.floats("det_scores"), kps = try c.floats("det_kps")
        let kpn = try c.ints("det_kpn"), counts = try c.ints("det_count"), ts = try c.field("timestamps").values
        let k = card.numKeypoints
        var j = 0
        for f in ts.indices {
            var dets: [Detection]? = nil
            if counts[f] >= 0 {
                dets = (0..<counts[f]).map { _ in
                    defer { j += 1 }
                    return Detection(box: FaceBox(x: boxes[4 * j], y: boxes[4 * j + 1], width: boxes[4 * j + 2],
                                                  height: boxes[4 * j + 3]), score: scores[j],
                                     keypoints: (0..<kpn[j]).map { Point(x: kps[10 * j + 2 * $0], y: kps[10 * j + 2 * $0 + 1]) })
                }
            }
            let r = try data.withUnsafeBytes { raw -> FrameOutput in
                let image = try PixelImage(packed: raw, width: w, height: h, stride: stride, format: .rgb8)
                return try lm.process(image, detections: dets, timestamp: ts[f])
            }
            XCTAssertEqual(r.face == nil ? 0 : 1, try c.ints("count")[f], "frame \(f)")
            XCTAssertEqual(r.detectorRan, try c.ints("detector_ran")[f] != 0, "frame \(f)")
            XCTAssertEqual(r.lost, try c.ints("lost")[f] != 0, "frame \(f)")
            guard let face = r.face else { continue }
            near(face.points.flatMap { [$0.x, $0.y] }, try c.floats("landmarks"), 2 * k * f, "landmarks", f)
            near(face.rawPoints.flatMap { [$0.x, $0.y] }, try c.floats("raw_landmarks"), 2 * k * f, "raw", f)
            near([face.box.x, face.box.y, face.box.width, face.box.height], try c.floats("box"), 4 * f, "box", f)
            near([face.rollDegrees], try c.floats("rotation_deg"), f, "rotation_deg", f)
            XCTAssertEqual(face.detectionIndex, try c.ints("detection_index")[f])
            XCTAssertEqual(face.passes, try c.ints("passes")[f])
        }
        XCTAssertEqual(model.call, model.callsN.count, "every recorded model call was made")
    }

    func testModelErrorsReachTheCallerAndTimestampsMustIncrease() throws {
        let card = try ModelCard(json: cardJSON(keypoints: 5, inputSize: 64, heatmapSize: 16))
        let model = Constant(k: 5, h: 16)
        let lm = try FaceLandmarker(card: card, model: model)
        let pixels = [UInt8](repeating: 0, count: 100 * 80 * 3)
        let det = [Detection(box: FaceBox(x: 20, y: 10, width: 50, height: 50))]
        try pixels.withUnsafeBytes { raw in
            let image = try PixelImage(packed: raw, width: 100, height: 80, stride: 300, format: .rgb8)
            XCTAssertNil(try lm.process(image, detections: nil, timestamp: 0).face)
            XCTAssertNotNil(try lm.process(image, detections: det, timestamp: 0.1).face)
            XCTAssertTrue(lm.tracking)
            assertFacekdError(.invalidArgument, "increasing") { try lm.process(image, detections: nil, timestamp: 0.1) }
            try lm.reset()
            XCTAssertFalse(lm.tracking)
            model.error = FacekdError(.internal, "runtime down")
            assertFacekdError(.internal, "runtime down") { try lm.process(image, detections: det, timestamp: 0.2) }
        }
        let wrong = try FaceLandmarker(card: card, model: Constant(k: 5, h: 8))
        try pixels.withUnsafeBytes { raw in
            let image = try PixelImage(packed: raw, width: 100, height: 80, stride: 300, format: .rgb8)
            assertFacekdError(.invalidArgument, "the card says 5 of 16x16") {
                try wrong.process(image, detections: det, timestamp: 0)
            }
        }
    }
}
