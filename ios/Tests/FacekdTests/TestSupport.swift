import Foundation
import XCTest
@testable import Facekd

/// Repository root (ios/Tests/FacekdTests/<file> -> ../../../).
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Asserts that `body` throws a `FacekdError` with `status` whose message contains `fragment`.
func assertFacekdError<T>(_ status: FacekdStatus, _ fragment: String, file: StaticString = #filePath,
                          line: UInt = #line, _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected \(status) error containing '\(fragment)'", file: file, line: line)
    } catch let e as FacekdError {
        XCTAssertEqual(e.status, status, "message: \(e.message)", file: file, line: line)
        XCTAssertTrue(fragment.isEmpty || e.message.contains(fragment), "'\(e.message)' does not contain '\(fragment)'",
                      file: file, line: line)
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}

/// A model card JSON for a custom K-point scheme (eye corners 0 and 1), as `facekd export` writes it.
func cardJSON(keypoints k: Int = 5, inputSize: Int = 64, heatmapSize: Int = 16, sigma: Double = 1.5,
              decode: String = "dark", cropScale: Double = 1.25, extra: [String: Any] = [:]) -> Data {
    var card: [String: Any] = [
        "model": "synthetic", "arch": "test", "config": ["num_keypoints": k], "num_keypoints": k,
        "input_size": inputSize, "output_type": "heatmap",
        "scheme": ["name": "custom\(k)", "num_points": k, "flip_perm": Array((0..<k).reversed()),
                   "eye_corners": [0, 1], "pupils": NSNull(), "groups": [String: Any](), "names": NSNull(),
                   "description": ""] as [String: Any],
        "codec": ["input_size": inputSize, "heatmap_size": heatmapSize, "sigma": sigma, "decode": decode,
                  "beta": 1.0] as [String: Any],
        "crop_scale": cropScale, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
        "pixel_format": "RGB", "facekd_version": "0.1.0", "training_data": "", "metrics": [String: Any](),
        "format": 1, "flip_perm": Array((0..<k).reversed()),
    ]
    for (key, value) in extra { card[key] = value }
    return try! JSONSerialization.data(withJSONObject: card)
}

/// Unnormalised Gaussian of peak `amplitude` centred at `center` (heatmap pixels) on an h x w map.
func gaussianMap(center: Point, sigma: Float, height: Int, width: Int, amplitude: Float = 1) -> [Float] {
    var map = [Float](repeating: 0, count: height * width)
    for y in 0..<height {
        for x in 0..<width {
            let dx = Float(x) - center.x, dy = Float(y) - center.y
            map[y * width + x] = amplitude * exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
        }
    }
    return map
}

/// A stand-in network: renders Gaussians at the heatmap positions of known image landmarks, given
/// the crop the landmarker will use (`cropToImage`, set by the test before each frame).
final class SyntheticModel: HeatmapModel {
    let card: ModelCard
    var truth: [Point]
    var cropToImage: Affine = .identity
    var amplitude: Float = 1
    var calls = 0

    init(card: ModelCard, truth: [Point]) { self.card = card; self.truth = truth }

    func predict(input: UnsafeBufferPointer<Float>, size: Int) throws -> Heatmaps {
        calls += 1
        precondition(size == card.inputSize && input.count == 3 * size * size)
        let codec = card.codec!
        let toCrop = try cropToImage.inverted()
        var values = [Float]()
        for p in truth {
            let c = toCrop.apply(p)
            let hm = Point(x: (c.x + 0.5) * Float(codec.heatmapWidth) / Float(size) - 0.5,
                           y: (c.y + 0.5) * Float(codec.heatmapHeight) / Float(size) - 0.5)
            values += gaussianMap(center: hm, sigma: codec.sigma, height: codec.heatmapHeight,
                                  width: codec.heatmapWidth, amplitude: amplitude)
        }
        return Heatmaps(values: values, keypoints: truth.count, height: codec.heatmapHeight,
                        width: codec.heatmapWidth)
    }
}

/// Largest point-to-point distance between two landmark sets.
func maxDistance(_ a: [Point], _ b: [Point]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).map { hypotf($0.x - $1.x, $0.y - $1.y) }.max() ?? 0
}
