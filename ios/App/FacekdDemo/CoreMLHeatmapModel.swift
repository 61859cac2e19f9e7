#if canImport(CoreML)
import CoreML
import Facekd
import Foundation

/// A CoreML model exported by `facekd export --to coreml`: input "image" [1, 3, S, S] float32,
/// output "heatmaps" [1, K, h, w]; the model card JSON in the creator metadata "facekd.model_card".
final class CoreMLHeatmapModel: HeatmapModel {
    static let cardKey = "facekd.model_card"
    let model: MLModel
    let card: ModelCard
    private let input: MLMultiArray

    /// Loads a compiled model (`.mlmodelc`; Xcode compiles a bundled `.mlpackage` into one).
    init(compiledModelURL url: URL, computeUnits: MLComputeUnits = .all) throws {
        let config = MLModelConfiguration()
        config.computeUnits = computeUnits
        model = try MLModel(contentsOf: url, configuration: config)
        let metadata = model.modelDescription.metadata[.creatorDefinedKey] as? [String: String]
        guard let json = metadata?[Self.cardKey] else {
            throw FacekdError(.invalidArgument, "\(url.lastPathComponent): no '\(Self.cardKey)' in the model metadata")
        }
        card = try ModelCard(json: Data(json.utf8))
        let s = card.inputSize as NSNumber
        input = try MLMultiArray(shape: [1, 3, s, s], dataType: .float32)
    }

    /// The first compiled model in the app bundle.
    static func bundled() throws -> CoreMLHeatmapModel {
        guard let url = Bundle.main.urls(forResourcesWithExtension: "mlmodelc", subdirectory: nil)?.first else {
            throw FacekdError(.invalidArgument, "no .mlmodelc in the app bundle: add the exported .mlpackage to the target")
        }
        return try CoreMLHeatmapModel(compiledModelURL: url)
    }

    func predict(input crop: UnsafeBufferPointer<Float>, size: Int) throws -> Heatmaps {
        precondition(crop.count == 3 * size * size && size == card.inputSize)
        input.dataPointer.copyMemory(from: crop.baseAddress!, byteCount: crop.count * MemoryLayout<Float>.stride)
        let features = try MLDictionaryFeatureProvider(dictionary: ["image": MLFeatureValue(multiArray: input)])
        let output = try model.prediction(from: features)
        guard let maps = output.featureValue(for: "heatmaps")?.multiArrayValue, maps.shape.count == 4 else {
            throw FacekdError(.invalidArgument, "model output 'heatmaps' missing or not 4-D")
        }
        let k = maps.shape[1].intValue, h = maps.shape[2].intValue, w = maps.shape[3].intValue
        return Heatmaps(values: Self.contiguousFloats(maps, k: k, h: h, w: w), keypoints: k, height: h, width: w)
    }

    /// The [1, K, h, w] array as dense float32, honouring its strides and element type.
    private static func contiguousFloats(_ a: MLMultiArray, k: Int, h: Int, w: Int) -> [Float] {
        let st = a.strides.map(\.intValue)
        var out = [Float](repeating: 0, count: k * h * w)
        func copy<T>(_ type: T.Type, _ convert: (T) -> Float) {
            let p = a.dataPointer.assumingMemoryBound(to: T.self)
            var i = 0
            for c in 0..<k {
                for y in 0..<h {
                    let row = c * st[1] + y * st[2]
                    for x in 0..<w { out[i] = convert(p[row + x * st[3]]); i += 1 }
                }
            }
        }
        switch a.dataType {
        case .float32: copy(Float.self) { $0 }
        case .double: copy(Double.self) { Float($0) }
#if arch(arm64)
        case .float16: copy(Float16.self) { Float($0) }
#endif
        default:
            for i in 0..<(k * h * w) {
                out[i] = a[[0, i / (h * w), (i / w) % h, i % w] as [NSNumber]].floatValue
            }
        }
        return out
    }
}
#endif
