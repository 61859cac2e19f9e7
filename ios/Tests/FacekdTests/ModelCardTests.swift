import Foundation
import XCTest
@testable import Facekd

/// The card is parsed by the C library (fk_card_info); these check the binding and the messages.
final class ModelCardTests: XCTestCase {
    func testGeometryComesFromTheCard() throws {
        let card = try ModelCard(json: cardJSON(keypoints: 7, inputSize: 96, heatmapSize: 24, sigma: 2,
                                                decode: "softargmax", cropScale: 1.4))
        XCTAssertEqual(card.numKeypoints, 7)
        XCTAssertEqual(card.inputSize, 96)
        XCTAssertEqual(card.heatmapSize, 24)
        XCTAssertEqual(card.outputLength, 7 * 24 * 24)
        XCTAssertEqual(card.outputType, "heatmap")
        XCTAssertEqual(card.cropScale, 1.4, accuracy: 1e-6)
        XCTAssertEqual(card.eyeCorners, [0, 1])
        XCTAssertEqual(card.mean[1], 0.456, accuracy: 1e-6)
        let coords = try ModelCard(json: cardJSON(extra: ["output_type": "coords"]))
        XCTAssertEqual(coords.outputType, "coords")
        XCTAssertEqual(coords.outputLength, 10)
    }

    func testErrorsNameTheField() {
        assertFacekdError(.invalidArgument, "invalid JSON") { try ModelCard(text: "{\"a\": ") }
        assertFacekdError(.invalidArgument, "'input_size' must be an integer") {
            try ModelCard(json: cardJSON(extra: ["input_size": "big"]))
        }
        assertFacekdError(.invalidArgument, "eye_corners") {
            try ModelCard(json: cardJSON(extra: ["scheme": ["name": "x", "num_points": 5]]))
        }
        assertFacekdError(.invalidArgument, "newer") { try ModelCard(json: cardJSON(extra: ["format": 9])) }
    }
}
