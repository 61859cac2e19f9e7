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
