import XCTest
@testable import Facekd

/// Error paths: every failure carries the C status and a message naming the problem.
final class KernelErrorTests: XCTestCase {
    func testVersionIsSemantic() {
        let parts = facekdVersion.split(separator: ".")
        XCTAssertEqual(parts.count, 3, facekdVersion)
        XCTAssertTrue(parts.allSatisfy { Int($0) != nil }, facekdVersion)
    }

    func testStatusNamesComeFromC() {
        XCTAssertEqual(FacekdStatus.invalidArgument.description, "FK_ERR_INVALID_ARGUMENT")
        XCTAssertEqual(FacekdStatus.nonFinite.description, "FK_ERR_NON_FINITE")
    }

    func testDecodeNonFiniteNamesKeypoint() {
        var maps = [Float](repeating: 0, count: 2 * 3 * 4 * 4)
        maps[(1 * 3 + 2) * 16 + 5] = .nan  // sample 1, keypoint 2
        assertFacekdError(.nonFinite, "heatmaps[1, 2]") {
            try Kernels.decodeHeatmaps(maps, n: 2, k: 3, height: 4, width: 4)
        }
    }

    func testDecodeShapeMismatchAndBadParams() {
        assertFacekdError(.invalidArgument, "n*k*h*w") {
            try Kernels.decodeHeatmaps([Float](repeating: 0, count: 10), n: 1, k: 1, height: 4, width: 4)
        }
        assertFacekdError(.invalidArgument, "height") {
            try Kernels.decodeHeatmaps([Float](), n: 1, k: 1, height: 0, width: 4)
        }
        var p = DecodeParams.default
        p.mode = .dark
        p.blurSigma = -1
        assertFacekdError(.invalidArgument, "sigma") {
            try Kernels.decodeHeatmaps([Float](repeating: 0, count: 16), n: 1, k: 1, height: 4, width: 4, params: p)
        }
    }

    func testCropRejectsBoxOutsideImageAndBadBox() throws {
        let pixels = [UInt8](repeating: 100, count: 8 * 6 * 3)
        try pixels.withUnsafeBytes { buf in
            let img = try PixelImage(packed: buf, width: 8, height: 6, stride: 24, format: .rgb8)
            var params = CropParams.default
            params.outSize = 8
            assertFacekdError(.invalidArgument, "does not overlap") {
                try Kernels.cropBox(img, box: FaceBox(x: 100, y: 100, width: 5, height: 5), scale: 1, params: params)
            }
            assertFacekdError(.invalidArgument, "box width and height") {
                try Kernels.cropBox(img, box: FaceBox(x: 1, y: 1, width: 0, height: 5), scale: 1, params: params)
            }
            assertFacekdError(.nonFinite, "box[2]") {
                try Kernels.cropBox(img, box: FaceBox(x: 1, y: 1, width: .nan, height: 5), scale: 1, params: params)
            }
        }
    }

    func testPixelImageChecksBufferSizes() {
        let small = [UInt8](repeating: 0, count: 10)
        small.withUnsafeBytes { buf in
            assertFacekdError(.invalidArgument, "stride") {
                try PixelImage(packed: buf, width: 4, height: 2, stride: 3, format: .bgra8)
            }
            assertFacekdError(.invalidArgument, "buffer has 10 bytes") {
                try PixelImage(packed: buf, width: 2, height: 2, stride: 8, format: .bgra8)
            }
            assertFacekdError(.invalidArgument, "bi-planar") {
                try PixelImage(packed: buf, width: 2, height: 2, stride: 2, format: .nv12)
            }
            assertFacekdError(.invalidArgument, "chroma buffer") {
                try PixelImage(luma: buf, lumaStride: 4, chroma: UnsafeRawBufferPointer(rebasing: buf[0..<3]),
                               chromaStride: 4, width: 4, height: 2, format: .nv21)
            }
        }
    }

    func testCropOutputBufferTooSmall() throws {
        let pixels = [UInt8](repeating: 0, count: 16)
        var out = [Float](repeating: 0, count: 10)
        try pixels.withUnsafeBytes { buf in
            let img = try PixelImage(packed: buf, width: 4, height: 4, stride: 4, format: .gray8)
            var params = CropParams.default
            params.outSize = 4
            out.withUnsafeMutableBufferPointer { o in
                assertFacekdError(.invalidArgument, "output buffer") {
                    try Kernels.cropBox(img, box: FaceBox(x: 0, y: 0, width: 4, height: 4), scale: 1, params: params,
                                        into: o)
                }
            }
        }
    }

    func testCropParamErrorsComeFromC() throws {
        let pixels = [UInt8](repeating: 0, count: 16)
        try pixels.withUnsafeBytes { buf in
            let img = try PixelImage(packed: buf, width: 4, height: 4, stride: 4, format: .gray8)
            var params = CropParams.default
            params.outSize = 4
            params.std = [1, 0, 1]
            assertFacekdError(.invalidArgument, "std") {
                try Kernels.cropBox(img, box: FaceBox(x: 0, y: 0, width: 4, height: 4), scale: 1, params: params)
            }
        }
    }

    func testSingularAffine() {
        let singular = Affine(a: 1, b: 2, c: 0, d: 2, e: 4, f: 0)
        assertFacekdError(.invalidArgument, "singular") { try singular.inverted() }
    }

    func testBoxFromLandmarksErrors() {
        assertFacekdError(.invalidArgument, "n must be") { try Kernels.boxFromLandmarks([]) }
        assertFacekdError(.nonFinite, "pts[0]") { try Kernels.boxFromLandmarks([Point(x: 0, y: .infinity)]) }
        assertFacekdError(.invalidArgument, "eye corner") {
            try Kernels.boxFromLandmarks([Point(x: 0, y: 0)], eyeCorners: (0, 3))
        }
    }

    func testSmootherErrorsLeaveStateUnchanged() throws {
        assertFacekdError(.invalidArgument, "valueCount") { try Smoother(valueCount: 0) }
        assertFacekdError(.invalidArgument, "min_cutoff") {
            try Smoother(valueCount: 2, params: SmootherParams(minCutoff: 0, beta: 0, dCutoff: 1))
        }
        let s = try Smoother(valueCount: 2)
        XCTAssertEqual(try s.apply([1, 2], timestamp: 1.0), [1, 2])  // first frame passes through
        assertFacekdError(.invalidArgument, "timestamp") { try s.apply([5, 5], timestamp: 1.0) }
        assertFacekdError(.nonFinite, "values[0]") { try s.apply([.nan, 5], timestamp: 2.0) }
        assertFacekdError(.invalidArgument, "expected 2 values") { try s.apply([1], timestamp: 2.0) }
        // State unchanged: the next valid frame filters from (1, 2).
        let out = try s.apply([3, 2], timestamp: 1.1)
        XCTAssertGreaterThan(out[0], 1)
        XCTAssertLessThan(out[0], 3)
        XCTAssertEqual(out[1], 2, accuracy: 1e-6)
        try s.reset()
        XCTAssertEqual(try s.apply([7, 8], timestamp: 0.5), [7, 8])  // after reset: passes through
    }

    func testDefaultsComeFromC() {
        XCTAssertEqual(CropParams.default.outSize, 256)
        XCTAssertEqual(CropParams.default.channels, 3)
        XCTAssertEqual(DecodeParams.default.mode, .argmax)
        XCTAssertEqual(SmootherParams.default.minCutoff, 1.0)
    }
}
