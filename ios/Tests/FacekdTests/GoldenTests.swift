import Foundation
import XCTest
@testable import Facekd

/// The Swift wrapper against the golden vectors of tests/golden/ (written by tests/golden/generate.py
/// from the numpy reference), with the tolerances of tests/golden/README.md.
final class GoldenTests: XCTestCase {
    func cases(_ file: String) throws -> [GoldenCase] {
        let url = GoldenFile.directory.appendingPathComponent(file)
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("golden file missing: \(url.path)")
            return []
        }
        return try GoldenFile.read(url)
    }

    /// |got - want| <= atol + rtol * |want| elementwise.
    func assertClose(_ got: [Float], _ c: GoldenCase, _ key: String, atol: Float, rtol: Float = 0,
                     line: UInt = #line) throws {
        let want = try c.floats(key)
        XCTAssertEqual(got.count, want.count, "\(c.id): \(key) size", line: line)
        var bad = 0
        for (i, (g, w)) in zip(got, want).enumerated() where !(abs(g - w) <= atol + rtol * abs(w)) {
            bad += 1
            if bad <= 3 { XCTFail("\(c.id): \(key)[\(i)] = \(g), expected \(w)", line: line) }
        }
    }

    func expectedStatus(_ c: GoldenCase) throws -> FacekdStatus {
        c.has("status") ? FacekdStatus(rawValue: try c.int("status"))! : .ok
    }

    /// Runs `body`; checks that it fails with the case's status, or succeeds when none is given.
    func run(_ c: GoldenCase, line: UInt = #line, _ body: () throws -> Void) throws {
        let expected = try expectedStatus(c)
        do {
            try body()
            XCTAssertEqual(expected, .ok, "\(c.id): expected \(expected), got success", line: line)
        } catch let e as FacekdError {
            XCTAssertEqual(e.status, expected, "\(c.id): \(e.message)", line: line)
            XCTAssertFalse(e.message.isEmpty, "\(c.id): error without message", line: line)
        }
    }

    func testDecode() throws {
        let all = try cases("decode.txt")
        XCTAssertGreaterThanOrEqual(all.count, 6)
        for c in all {
            let shape = try c.field("heatmaps").shape
            XCTAssertEqual(shape.count, 4)
            guard let mode = DecodeMode(rawValue: try c.int("mode")) else {
                XCTAssertEqual(try expectedStatus(c), .invalidArgument, c.id)
                continue
            }
            let params = DecodeParams(mode: mode, blurSigma: try c.float("blur_sigma"), beta: try c.float("beta"))
            try run(c) {
                let d = try Kernels.decodeHeatmaps(try c.floats("heatmaps"), n: shape[0], k: shape[1],
                                                   height: shape[2], width: shape[3], params: params)
                try assertClose(Kernels.flatten(d.points), c, "coords", atol: mode == .argmax ? 0 : 1e-4)
                try assertClose(d.scores, c, "scores", atol: 0)
            }
        }
    }

    func testCrop() throws {
        let all = try cases("crop.txt")
        XCTAssertGreaterThanOrEqual(all.count, 14)
        var formats = Set<PixelFormat>()
        for c in all {
            guard let format = PixelFormat(rawValue: try c.int("format")) else {
                XCTAssertEqual(try expectedStatus(c), .invalidArgument, c.id)
                continue
            }
            formats.insert(format)
            let data = try c.field("data").bytes
            let width = try c.int("width"), height = try c.int("height"), stride = try c.int("stride")
            let mean = try c.floats("mean"), std = try c.floats("std")
            let params = CropParams(outSize: try c.int("out_size"), channels: try c.int("out_channels"),
                                    mean: mean, std: std, borderValue: try c.float("border_value"))
            try run(c) {
                try data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
                    let uv = c.has("uv_data") ? try c.field("uv_data").bytes : nil
                    try (uv ?? []).withUnsafeBytes { (uvBuf: UnsafeRawBufferPointer) in
                        let image: PixelImage
                        if format.isBiPlanar {
                            let givenUVStride = c.has("uv_stride") ? try c.int("uv_stride") : 0
                            let uvStride = givenUVStride != 0 ? givenUVStride : stride
                            // Without uv_data the chroma plane follows the Y plane (data + stride * height).
                            let split = min(stride * height, buf.count)
                            let chroma = uv != nil ? uvBuf : UnsafeRawBufferPointer(rebasing: buf[split...])
                            image = try PixelImage(luma: UnsafeRawBufferPointer(rebasing: buf[..<split]),
                                                   lumaStride: stride, chroma: chroma, chromaStride: uvStride,
                                                   width: width, height: height, format: format)
                        } else {
                            image = try PixelImage(packed: buf, width: width, height: height, stride: stride,
                                                   format: format)
                        }
                        let crop: Crop
                        if c.kernel == "crop_affine" {
                            crop = try Kernels.cropAffine(image, cropToImage: try Affine(try c.floats("crop_to_image")),
                                                          params: params)
                        } else {
                            XCTAssertEqual(c.kernel, "crop_box")
                            let b = try c.floats("box")
                            crop = try Kernels.cropBox(image, box: FaceBox(x: b[0], y: b[1], width: b[2], height: b[3]),
                                                       scale: try c.float("scale"),
                                                       rotationDegrees: try c.float("rotation_deg"),
                                                       flip: try c.int("flip") != 0, params: params)
                            try assertClose(crop.cropToImage.values, c, "crop_to_image", atol: 1e-4, rtol: 1e-5)
                        }
                        try assertClose(crop.tensor, c, "out", atol: 1e-4)
                    }
                }
            }
        }
        XCTAssertEqual(formats, Set(PixelFormat.allCases), "every pixel format has golden cases")
    }

    func testGeometry() throws {
        let all = try cases("geometry.txt")
        XCTAssertGreaterThanOrEqual(all.count, 8)
        for c in all {
            try run(c) {
                switch c.kernel {
                case "box_to_affine":
                    let b = try c.floats("box")
                    let a = try Kernels.boxToAffine(FaceBox(x: b[0], y: b[1], width: b[2], height: b[3]),
                                                    scale: try c.float("scale"),
                                                    rotationDegrees: try c.float("rotation_deg"),
                                                    flip: try c.int("flip") != 0, outSize: try c.int("out_size"))
                    try assertClose(a.values, c, "crop_to_image", atol: 1e-4, rtol: 1e-5)
                case "affine_invert":
                    let inv = try Affine(try c.floats("affine")).inverted()
                    try assertClose(inv.values, c, "inverse", atol: 1e-5, rtol: 1e-5)
                case "points_transform":
                    let out = try Kernels.transform(Kernels.points(from: try c.floats("pts")),
                                                    by: try Affine(try c.floats("affine")))
                    try assertClose(Kernels.flatten(out), c, "out", atol: 1e-4, rtol: 1e-5)
                case "heatmap_to_image":
                    let out = try Kernels.heatmapToImage(
                        Kernels.points(from: try c.floats("pts")), heatmapWidth: try c.int("heatmap_w"),
                        heatmapHeight: try c.int("heatmap_h"), inputWidth: try c.int("input_w"),
                        inputHeight: try c.int("input_h"), cropToImage: try Affine(try c.floats("crop_to_image")))
                    try assertClose(Kernels.flatten(out), c, "out", atol: 1e-4, rtol: 1e-5)
                case "box_from_landmarks":
                    let pts = Kernels.points(from: try c.floats("pts"))
                    let l = try c.int("left_idx"), r = try c.int("right_idx")
                    let (box, roll) = try Kernels.boxFromLandmarks(pts, eyeCorners: l < 0 || r < 0 ? nil : (l, r))
                    try assertClose([box.x, box.y, box.width, box.height], c, "box", atol: 1e-4, rtol: 1e-5)
                    try assertClose([roll], c, "roll_deg", atol: 1e-4)
                default:
                    XCTFail("unknown geometry kernel \(c.kernel)")
                }
            }
        }
    }

    func testSmoother() throws {
        let all = try cases("smoother.txt")
        XCTAssertGreaterThanOrEqual(all.count, 3)
        for c in all {
            let n = try c.int("n_values")
            let s = try Smoother(valueCount: n, params: SmootherParams(
                minCutoff: try c.float("min_cutoff"), beta: try c.float("beta"), dCutoff: try c.float("d_cutoff")))
            let ts = try c.field("timestamps").values
            let values = try c.floats("values")
            let reset = try c.field("reset").values
            var out = [Float]()
            for t in 0..<ts.count {
                if reset[t] != 0 { try s.reset() }
                out += try s.apply(Array(values[(t * n)..<((t + 1) * n)]), timestamp: ts[t])
            }
            try assertClose(out, c, "out", atol: 1e-5, rtol: 1e-5)
        }
    }
}
