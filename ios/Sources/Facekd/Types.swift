import CFacekd
import Foundation

/// A 2-D point in facekd's continuous pixel coordinates (the centre of pixel i is at i).
public struct Point: Equatable, Sendable {
    public var x: Float
    public var y: Float
    public init(x: Float, y: Float) { self.x = x; self.y = y }
}

/// A face box (x, y, width, height) in continuous pixel coordinates; its centre is (x + w/2, y + h/2).
public struct FaceBox: Equatable, Sendable {
    public var x: Float
    public var y: Float
    public var width: Float
    public var height: Float

    public init(x: Float, y: Float, width: Float, height: Float) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    public init(center: Point, width: Float, height: Float) {
        self.init(x: center.x - width / 2, y: center.y - height / 2, width: width, height: height)
    }

    public var center: Point { Point(x: x + width / 2, y: y + height / 2) }

    var array: [Float] { [x, y, width, height] }
}

/// A 2x3 affine [a b c; d e f]: x' = a*x + b*y + c, y' = d*x + e*y + f.
public struct Affine: Equatable, Sendable {
    public var a, b, c, d, e, f: Float

    public init(a: Float, b: Float, c: Float, d: Float, e: Float, f: Float) {
        self.a = a; self.b = b; self.c = c; self.d = d; self.e = e; self.f = f
    }

    /// From 6 row-major values; throws unless there are exactly 6.
    public init(_ values: [Float]) throws {
        try require(values.count == 6, "affine needs 6 values, got \(values.count)")
        self.init(a: values[0], b: values[1], c: values[2], d: values[3], e: values[4], f: values[5])
    }

    public static let identity = Affine(a: 1, b: 0, c: 0, d: 0, e: 1, f: 0)

    /// Rotation by `degrees` (from the x axis toward the y axis) about `center`.
    public static func rotation(degrees: Float, about center: Point) -> Affine {
        let r = Double(degrees) * Double.pi / 180
        let cs = Float(cos(r)), sn = Float(sin(r))
        return Affine(a: cs, b: -sn, c: center.x - cs * center.x + sn * center.y,
                      d: sn, e: cs, f: center.y - sn * center.x - cs * center.y)
    }

    public var values: [Float] { [a, b, c, d, e, f] }

    /// Applies the affine to one point (plain Swift arithmetic, no C call).
    public func apply(_ p: Point) -> Point {
        Point(x: a * p.x + b * p.y + c, y: d * p.x + e * p.y + f)
    }

    /// The inverse (`fk_affine_invert`); throws for a singular affine.
    public func inverted() throws -> Affine {
        var inverse = [Float](repeating: 0, count: 6)
        try check(fk_affine_invert(values, &inverse))
        return try Affine(inverse)
    }
}

/// Heatmap decoding method (`fk_decode_mode`).
public enum DecodeMode: Int, Sendable, CaseIterable {
    case argmax = 0
    case dark = 1
    case softargmax = 2

    /// Parses a codec's mode name ("argmax", "dark", "softargmax"; case-insensitive).
    public init(name: String) throws {
        switch name.lowercased() {
        case "argmax": self = .argmax
        case "dark": self = .dark
        case "softargmax", "soft_argmax", "soft-argmax": self = .softargmax
        default: throw FacekdError(.invalidArgument, "unknown decode mode '\(name)' (argmax, dark, softargmax)")
        }
    }
}

/// Parameters of `Kernels.decodeHeatmaps` (`fk_decode_params`).
public struct DecodeParams: Equatable, Sendable {
    public var mode: DecodeMode
    /// DARK only: the Gaussian blur sigma (> 0); the codec's target sigma.
    public var blurSigma: Float
    /// SOFTARGMAX only: the softmax temperature (> 0).
    public var beta: Float

    public init(mode: DecodeMode, blurSigma: Float, beta: Float) {
        self.mode = mode; self.blurSigma = blurSigma; self.beta = beta
    }

    /// The C library's defaults (`fk_decode_params_default`).
    public static var `default`: DecodeParams {
        var p = fk_decode_params()
        _ = fk_decode_params_default(&p)
        return DecodeParams(mode: DecodeMode(rawValue: Int(p.mode.rawValue)) ?? .argmax,
                            blurSigma: p.blur_sigma, beta: p.beta)
    }

    var c: fk_decode_params {
        fk_decode_params(mode: fk_decode_mode(rawValue: UInt32(mode.rawValue)), blur_sigma: blurSigma, beta: beta)
    }
}

/// Pixel layouts accepted by the crop kernel (`fk_pixel_format`).
public enum PixelFormat: Int, Sendable, CaseIterable {
    case rgb8 = 0, bgr8 = 1, rgba8 = 2, bgra8 = 3, gray8 = 4
    /// Bi-planar YUV 4:2:0, chroma U,V interleaved (iOS `420YpCbCr8BiPlanarFullRange`).
    case nv12 = 5
    /// Bi-planar YUV 4:2:0, chroma V,U interleaved (Android camera default).
    case nv21 = 6

    /// Bytes per pixel of the first plane (the Y plane for NV12/NV21).
    public var bytesPerPixel: Int {
        switch self {
        case .rgb8, .bgr8: return 3
        case .rgba8, .bgra8: return 4
        case .gray8, .nv12, .nv21: return 1
        }
    }

    public var isBiPlanar: Bool { self == .nv12 || self == .nv21 }

    /// Parses a model card's pixel format name, e.g. "RGB", "BGRA8", "nv12".
    public init(name: String) throws {
        let n = name.lowercased()
        let key = n.hasSuffix("8") ? String(n.dropLast()) : n
        switch key {
        case "rgb": self = .rgb8
        case "bgr": self = .bgr8
        case "rgba": self = .rgba8
        case "bgra": self = .bgra8
        case "gray", "grey", "l": self = .gray8
        case "nv12": self = .nv12
        case "nv21": self = .nv21
        default: throw FacekdError(.invalidArgument, "unknown pixel format '\(name)'")
        }
    }
}

/// Parameters of the crop kernel (`fk_crop_params`).
public struct CropParams: Equatable, Sendable {
    /// Output side S: the crop is [channels, S, S].
    public var outSize: Int
    /// 3 (RGB order whatever the input) or 1 (BT.601 luma).
    public var channels: Int
    /// Per-channel mean and std of `(v / 255 - mean) / std`; one channel uses element 0.
    public var mean: [Float]
    public var std: [Float]
    /// Value (0...255 pixel units) of samples outside the image.
    public var borderValue: Float

    public init(outSize: Int, channels: Int = 3, mean: [Float], std: [Float], borderValue: Float = 0) {
        self.outSize = outSize; self.channels = channels
        self.mean = mean; self.std = std; self.borderValue = borderValue
    }

    /// The C library's defaults (`fk_crop_params_default`: 256 px, 3 channels, ImageNet mean/std).
    public static var `default`: CropParams {
        var p = fk_crop_params()
        _ = fk_crop_params_default(&p)
        return CropParams(outSize: Int(p.out_size), channels: Int(p.out_channels),
                          mean: [p.mean.0, p.mean.1, p.mean.2], std: [p.std.0, p.std.1, p.std.2],
                          borderValue: p.border_value)
    }

    func c() throws -> fk_crop_params {
        try require(mean.count == 3 || (channels == 1 && mean.count == 1),
                    "mean has \(mean.count) values for \(channels) channel(s)")
        try require(std.count == mean.count, "std has \(std.count) values, mean has \(mean.count)")
        try require(outSize > 0 && outSize <= Int(Int32.max), "outSize must be positive, got \(outSize)")
        try require(channels > 0 && channels <= 3, "channels must be 1 or 3, got \(channels)")
        func at(_ v: [Float], _ i: Int) -> Float { i < v.count ? v[i] : v[0] }
        return fk_crop_params(out_size: Int32(outSize), out_channels: Int32(channels),
                              mean: (at(mean, 0), at(mean, 1), at(mean, 2)),
                              std: (at(std, 0), at(std, 1), at(std, 2)),
                              border_value: borderValue)
    }
}

/// One-Euro filter parameters (`fk_smoother_params`).
public struct SmootherParams: Equatable, Sendable {
    /// Minimum cutoff frequency in Hz (> 0): lower = smoother at rest.
    public var minCutoff: Float
    /// Speed coefficient (>= 0): higher = less lag when moving.
    public var beta: Float
    /// Cutoff of the derivative filter in Hz (> 0).
    public var dCutoff: Float

    public init(minCutoff: Float, beta: Float, dCutoff: Float) {
        self.minCutoff = minCutoff; self.beta = beta; self.dCutoff = dCutoff
    }

    /// The C library's defaults (`fk_smoother_params_default`).
    public static var `default`: SmootherParams {
        var p = fk_smoother_params()
        _ = fk_smoother_params_default(&p)
        return SmootherParams(minCutoff: p.min_cutoff, beta: p.beta, dCutoff: p.d_cutoff)
    }

    var c: fk_smoother_params { fk_smoother_params(min_cutoff: minCutoff, beta: beta, d_cutoff: dCutoff) }
}
