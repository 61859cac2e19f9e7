import Foundation

/// The model card written by `facekd export` (`<model>.json` beside the `.pte`, or the CoreML
/// model's `user_defined_metadata["model_card"]`): everything needed to feed and decode the model.
/// The geometry (input size, crop scale, eye corners, heatmap codec) comes from here, never from constants.
public struct ModelCard: Equatable {
    /// Landmark scheme of the model's outputs.
    public struct Scheme: Equatable {
        public var name: String
        public var numPoints: Int
        /// `flipPerm[i]` is the point that becomes point i after a horizontal mirror.
        public var flipPerm: [Int]
        /// Image-left and image-right outer eye corners (roll angle and tracking).
        public var eyeCorners: (left: Int, right: Int)

        public static func == (l: Scheme, r: Scheme) -> Bool {
            l.name == r.name && l.numPoints == r.numPoints && l.flipPerm == r.flipPerm
                && l.eyeCorners == r.eyeCorners
        }
    }

    /// Heatmap codec (`HeatmapCodec.to_dict()`).
    public struct Codec: Equatable {
        public var heatmapWidth: Int
        public var heatmapHeight: Int
        public var sigma: Float
        public var decode: DecodeMode
        public var beta: Float
    }

    public var model: String
    public var numKeypoints: Int
    /// Side of the square model input (crop) in pixels.
    public var inputSize: Int
    /// "heatmap" ([N,K,h,w] outputs) or "coords".
    public var outputType: String
    public var codec: Codec?
    /// The face box is enlarged by this factor before cropping.
    public var cropScale: Float
    public var mean: [Float]
    public var std: [Float]
    /// Channel order of the model input; the crop kernel always produces "RGB".
    public var pixelFormat: String
    public var scheme: Scheme
    public var facekdVersion: String

    /// Newest card format this reader understands.
    public static let supportedFormat = 1

    /// Parses and validates a card from JSON; errors name the offending field.
    public init(json: Data) throws {
        let any: Any
        do {
            any = try JSONSerialization.jsonObject(with: json)
        } catch {
            throw FacekdError(.invalidArgument, "invalid model card JSON: \(error.localizedDescription)")
        }
        guard let root = any as? [String: Any] else {
            throw FacekdError(.invalidArgument, "invalid model card: expected a JSON object")
        }
        let r = Fields(root, path: "")
        let format = try r.int("format", default: 1)
        try require(format <= ModelCard.supportedFormat,
                    "invalid model card: card format \(format) is newer than this reader (\(ModelCard.supportedFormat))")
        model = try r.string("model", default: "")
        numKeypoints = try r.int("num_keypoints")
        inputSize = try r.int("input_size")
        outputType = try r.string("output_type", default: "heatmap")
        cropScale = try r.float("crop_scale", default: 1.25)
        mean = try r.floats("mean")
        std = try r.floats("std")
        pixelFormat = try r.string("pixel_format", default: "RGB")
        facekdVersion = try r.string("facekd_version", default: "")

        let s = try r.object("scheme")
        let corners = try s.ints("eye_corners")
        try require(corners.count == 2, "invalid model card: scheme.eye_corners needs 2 indices, got \(corners.count)")
        scheme = Scheme(name: try s.string("name"), numPoints: try s.int("num_points"),
                        flipPerm: try s.ints("flip_perm"), eyeCorners: (corners[0], corners[1]))

        if let c = try r.optionalObject("codec"), !c.dict.isEmpty {
            let type = try c.string("type", default: "heatmap")
            try require(type == "heatmap", "invalid model card: codec.type '\(type)' is not 'heatmap'")
            let codecInput = try c.int("input_size", default: inputSize)
            try require(codecInput == inputSize,
                        "invalid model card: codec.input_size \(codecInput) differs from input_size \(inputSize)")
            let (hw, hh) = try c.size("heatmap_size")
            let mode = try DecodeMode(name: try c.string("decode", default: "dark"))
            let sigma = try c.float("sigma")
            codec = Codec(heatmapWidth: hw, heatmapHeight: hh, sigma: sigma, decode: mode,
                          beta: try c.float("beta", default: 1))
        } else {
            codec = nil
        }
        try validate()
    }

    /// Reads a card file (e.g. the `.json` beside a `.pte`).
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw FacekdError(.invalidArgument, "model card not found or unreadable: \(url.path)")
        }
        try self.init(json: data)
    }

    private func validate() throws {
        func bad(_ msg: String) -> FacekdError { FacekdError(.invalidArgument, "invalid model card: \(msg)") }
        if numKeypoints < 1 { throw bad("num_keypoints must be >= 1, got \(numKeypoints)") }
        if scheme.numPoints != numKeypoints {
            throw bad("scheme '\(scheme.name)' has \(scheme.numPoints) points, card says \(numKeypoints)")
        }
        if scheme.flipPerm.count != numKeypoints || scheme.flipPerm.contains(where: { $0 < 0 || $0 >= numKeypoints }) {
            throw bad("scheme.flip_perm must be a permutation of \(numKeypoints) indices")
        }
        let (l, rgt) = scheme.eyeCorners
        if l < 0 || l >= numKeypoints || rgt < 0 || rgt >= numKeypoints || l == rgt {
            throw bad("scheme.eye_corners (\(l), \(rgt)) out of range for \(numKeypoints) points")
        }
        if inputSize < 8 { throw bad("input_size must be >= 8, got \(inputSize)") }
        if outputType != "heatmap" && outputType != "coords" {
            throw bad("output_type must be 'heatmap' or 'coords', got '\(outputType)'")
        }
        if outputType == "heatmap" && codec == nil { throw bad("a heatmap model needs a codec") }
        if let c = codec {
            if c.heatmapWidth < 1 || c.heatmapHeight < 1 {
                throw bad("codec.heatmap_size must be positive, got \(c.heatmapWidth)x\(c.heatmapHeight)")
            }
            if !(c.sigma > 0) { throw bad("codec.sigma must be > 0, got \(c.sigma)") }
            if !(c.beta > 0) { throw bad("codec.beta must be > 0, got \(c.beta)") }
        }
        if mean.count != 3 || std.count != 3 || std.contains(where: { !($0 > 0) }) {
            throw bad("mean/std must be 3 values with std > 0, got \(mean) / \(std)")
        }
        if pixelFormat != "RGB" { throw bad("pixel_format must be 'RGB', got '\(pixelFormat)'") }
        if !(cropScale > 0) { throw bad("crop_scale must be > 0, got \(cropScale)") }
    }

    /// Crop parameters for this model's input.
    public var cropParams: CropParams {
        CropParams(outSize: inputSize, channels: 3, mean: mean, std: std, borderValue: 0)
    }

    /// Decode parameters from the codec (defaults for a card without codec).
    public var decodeParams: DecodeParams {
        guard let c = codec else { return .default }
        return DecodeParams(mode: c.decode, blurSigma: c.sigma, beta: c.beta)
    }
}

/// Typed access to a JSON object with errors naming the field.
private struct Fields {
    let dict: [String: Any]
    let path: String

    init(_ dict: [String: Any], path: String) { self.dict = dict; self.path = path }

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    private func fail(_ key: String, _ what: String) -> FacekdError {
        FacekdError(.invalidArgument, "invalid model card: field '\(name(key))' \(what)")
    }

    private func value(_ key: String) throws -> Any {
        guard let v = dict[key], !(v is NSNull) else { throw fail(key, "is missing") }
        return v
    }

    private func number(_ v: Any, _ key: String) throws -> Double {
        if let d = v as? Double { return d }
        if let i = v as? Int { return Double(i) }
        if let n = v as? NSNumber { return n.doubleValue }
        throw fail(key, "must be a number, got \(v)")
    }

    func string(_ key: String, default d: String? = nil) throws -> String {
        if dict[key] == nil || dict[key] is NSNull, let d = d { return d }
        guard let s = try value(key) as? String else { throw fail(key, "must be a string") }
        return s
    }

    func int(_ key: String, default d: Int? = nil) throws -> Int {
        if dict[key] == nil || dict[key] is NSNull, let d = d { return d }
        return try toInt(try value(key), key)
    }

    func float(_ key: String, default d: Float? = nil) throws -> Float {
        if dict[key] == nil || dict[key] is NSNull, let d = d { return d }
        return Float(try number(try value(key), key))
    }

    func floats(_ key: String) throws -> [Float] {
        guard let a = try value(key) as? [Any] else { throw fail(key, "must be a list of numbers") }
        return try a.map { Float(try number($0, key)) }
    }

    func ints(_ key: String) throws -> [Int] {
        guard let a = try value(key) as? [Any] else { throw fail(key, "must be a list of integers") }
        return try a.map { try toInt($0, key) }
    }

    /// An integer (square) or a [height, width] pair.
    func size(_ key: String) throws -> (width: Int, height: Int) {
        let v = try value(key)
        if let a = v as? [Any] {
            guard a.count == 2 else { throw fail(key, "must be an integer or [height, width]") }
            return (try toInt(a[1], key), try toInt(a[0], key))
        }
        let s = try toInt(v, key)
        return (s, s)
    }

    func object(_ key: String) throws -> Fields {
        guard let o = try value(key) as? [String: Any] else { throw fail(key, "must be an object") }
        return Fields(o, path: name(key))
    }

    func optionalObject(_ key: String) throws -> Fields? {
        if dict[key] == nil || dict[key] is NSNull { return nil }
        return try object(key)
    }

    private func toInt(_ v: Any, _ key: String) throws -> Int {
        let d = try number(v, key)
        guard d.isFinite, d == d.rounded(), abs(d) < 1e15 else { throw fail(key, "must be an integer, got \(d)") }
        return Int(d)
    }
}
