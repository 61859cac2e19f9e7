import CFacekd
import Foundation

/// The model card written by `facekd export` (`<model>.json` beside the model). Parsed by the C
/// library (`fk_card_info`, the one card parser of every binding); `json` goes to `FaceLandmarker`.
public struct ModelCard: Equatable {
    public let json: String
    public let numKeypoints: Int
    /// Side of the square model input (crop) in pixels.
    public let inputSize: Int
    /// "heatmap" ([K, h, h] per crop) or "coords" ([K, 2] per crop, (u + 0.5) / S).
    public let outputType: String
    /// Heatmap side (0 for coordinate models).
    public let heatmapSize: Int
    /// Floats the model returns per crop.
    public let outputLength: Int
    public let cropScale: Float
    /// (image-left, image-right) eye-corner indices of the scheme.
    public let eyeCorners: [Int]
    public let mean: [Float]
    public let std: [Float]

    public init(json data: Data) throws {
        guard let text = String(data: data, encoding: .utf8) else {
            throw FacekdError(.invalidArgument, "model card: not UTF-8 text")
        }
        try self.init(text: text)
    }

    public init(text: String) throws {
        var info = fk_landmarker_info()
        try check(fk_card_info(text, &info))
        json = text
        numKeypoints = Int(info.num_keypoints)
        inputSize = Int(info.input_size)
        outputType = info.output_kind == FK_OUTPUT_HEATMAP ? "heatmap" : "coords"
        heatmapSize = Int(info.heatmap_size)
        outputLength = Int(info.output_floats)
        cropScale = info.crop_scale
        eyeCorners = [Int(info.eye_left), Int(info.eye_right)]
        mean = [info.mean.0, info.mean.1, info.mean.2]
        std = [info.std.0, info.std.1, info.std.2]
    }

    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FacekdError(.invalidArgument, "cannot read model card \(url.path): \(error.localizedDescription)")
        }
        try self.init(json: data)
    }
}
