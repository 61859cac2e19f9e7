import Dispatch
import Foundation

/// Heatmaps of one face: [keypoints, height, width], row-major.
public struct Heatmaps {
    public var values: [Float]
    public var keypoints: Int
    public var height: Int
    public var width: Int

    public init(values: [Float], keypoints: Int, height: Int, width: Int) {
        self.values = values; self.keypoints = keypoints; self.height = height; self.width = width
    }
}

/// The network: one normalised crop [3, S, S] (CHW) in, heatmaps out. The demo app implements it
/// with CoreML; tests use a synthetic model.
public protocol HeatmapModel: AnyObject {
    func predict(input: UnsafeBufferPointer<Float>, size: Int) throws -> Heatmaps
}

/// Wall-clock time of each stage of one frame, in seconds.
public struct StageTimings: Equatable {
    public var detect: Double = 0
    public var crop: Double = 0
    public var model: Double = 0
    public var decode: Double = 0
    public var smooth: Double = 0
    public var total: Double { detect + crop + model + decode + smooth }
    public init() {}
}

/// Landmarks of one face in image coordinates.
public struct LandmarkResult {
    /// Landmarks in image coordinates (smoothed when the landmarker smooths).
    public var points: [Point]
    /// Peak heatmap value per landmark.
    public var scores: [Float]
    /// The crop this frame used.
    public var cropToImage: Affine
    /// Box + roll for the next frame's crop (from the landmarks, see `TrackingBox`).
    public var next: TrackingBox
    public var timings: StageTimings

    public var meanScore: Float { scores.isEmpty ? 0 : scores.reduce(0, +) / Float(scores.count) }
}

/// Where to crop the next frame: an upright box (in the face's own frame) rotated by `rollDegrees`.
public struct TrackingBox: Equatable {
    public var box: FaceBox
    public var rollDegrees: Float

    public init(box: FaceBox, rollDegrees: Float = 0) { self.box = box; self.rollDegrees = rollDegrees }

    /// From landmarks: the roll of the eye-corner line, then the tight box of the landmarks rotated
    /// upright about their centre (so a tilted face does not inflate the box), mapped back.
    public static func from(landmarks: [Point], eyeCorners: (left: Int, right: Int)) throws -> TrackingBox {
        let (box0, roll) = try Kernels.boxFromLandmarks(landmarks, eyeCorners: eyeCorners)
        let upright = Affine.rotation(degrees: -roll, about: box0.center)
        let (box1, _) = try Kernels.boxFromLandmarks(try Kernels.transform(landmarks, by: upright))
        let center = try upright.inverted().apply(box1.center)
        return TrackingBox(box: FaceBox(center: center, width: box1.width, height: box1.height), rollDegrees: roll)
    }
}

/// crop (C) -> model -> decode (C) -> heatmap-to-image (C) -> One-Euro smoothing (C), configured
/// by a model card. Not thread-safe: use one instance per video queue.
public final class FaceLandmarker {
    public let card: ModelCard
    public let model: HeatmapModel
    private let smoother: Smoother?
    private var input: [Float]
    private var lastTimestamp: Double?

    /// `smoothing` nil disables the One-Euro filter.
    public init(card: ModelCard, model: HeatmapModel, smoothing: SmootherParams? = .default) throws {
        try require(card.outputType == "heatmap",
                    "FaceLandmarker needs a heatmap model, the card says output_type '\(card.outputType)'")
        self.card = card
        self.model = model
        self.smoother = try smoothing.map { try Smoother(valueCount: 2 * card.numKeypoints, params: $0) }
        self.input = [Float](repeating: 0, count: 3 * card.inputSize * card.inputSize)
    }

    /// Landmarks of the face in `region`. `timestamp` (seconds, increasing) drives the smoother;
    /// nil skips smoothing for this frame; a timestamp not after the previous one restarts the filter.
    public func landmarks(in image: PixelImage, region: TrackingBox, timestamp: Double? = nil) throws
        -> LandmarkResult {
        var t = StageTimings()
        var clock = Stopwatch()
        let affine = try input.withUnsafeMutableBufferPointer {
            try Kernels.cropBox(image, box: region.box, scale: card.cropScale, rotationDegrees: region.rollDegrees,
                                params: card.cropParams, into: $0)
        }
        t.crop = clock.lap()

        let heatmaps = try input.withUnsafeBufferPointer { try model.predict(input: $0, size: card.inputSize) }
        t.model = clock.lap()
        try require(heatmaps.keypoints == card.numKeypoints,
                    "model returned \(heatmaps.keypoints) heatmaps, the card says \(card.numKeypoints) keypoints")
        if let c = card.codec {
            try require(heatmaps.width == c.heatmapWidth && heatmaps.height == c.heatmapHeight,
                        "model returned \(heatmaps.width)x\(heatmaps.height) heatmaps, the card's codec says "
                            + "\(c.heatmapWidth)x\(c.heatmapHeight)")
        }
        let decoded = try Kernels.decodeHeatmaps(heatmaps.values, n: 1, k: heatmaps.keypoints,
                                                 height: heatmaps.height, width: heatmaps.width,
                                                 params: card.decodeParams)
        var points = try Kernels.heatmapToImage(decoded.points, heatmapWidth: heatmaps.width,
                                                heatmapHeight: heatmaps.height, inputWidth: card.inputSize,
                                                inputHeight: card.inputSize, cropToImage: affine)
        t.decode = clock.lap()

        if let s = smoother, let ts = timestamp {
            if let last = lastTimestamp, ts <= last { try s.reset() }
            points = try s.apply(points, timestamp: ts)
            lastTimestamp = ts
        }
        t.smooth = clock.lap()
        let next = try TrackingBox.from(landmarks: points, eyeCorners: card.scheme.eyeCorners)
        return LandmarkResult(points: points, scores: decoded.scores, cropToImage: affine, next: next, timings: t)
    }

    /// Forgets the smoother state (call when the tracked face is lost or changes).
    public func resetSmoothing() throws {
        try smoother?.reset()
        lastTimestamp = nil
    }
}

/// Detect once, then track: each frame's landmarks give the next frame's crop
/// (`TrackingBox.from`); when the mean heatmap peak drops below `minScore` the face is
/// considered lost and the detector runs again on the next frame.
public final class LandmarkTracker {
    public let landmarker: FaceLandmarker
    /// Mean peak heatmap value below which tracking is dropped.
    public var minScore: Float
    public private(set) var region: TrackingBox?
    public let fps = FpsMeter()

    public init(landmarker: FaceLandmarker, minScore: Float = 0.2) {
        self.landmarker = landmarker
        self.minScore = minScore
    }

    /// One frame. `detect` is called only when no face is tracked; it returns the face box or nil.
    /// Returns nil when there is no face; `result.timings.detect` is set on detection frames.
    public func process(_ image: PixelImage, timestamp: Double, detect: () throws -> FaceBox?) throws
        -> (result: LandmarkResult, detected: Bool)? {
        fps.tick(timestamp)
        var clock = Stopwatch()
        var detected = false
        if region == nil {
            guard let box = try detect() else { return nil }
            region = TrackingBox(box: box)
            detected = true
            try landmarker.resetSmoothing()
        }
        let detectTime = clock.lap()
        var result = try landmarker.landmarks(in: image, region: region!, timestamp: timestamp)
        result.timings.detect = detectTime
        if result.meanScore < minScore {
            region = nil
            try landmarker.resetSmoothing()
        } else {
            region = result.next
        }
        return (result, detected)
    }

    /// Drops the tracked face: the next frame runs the detector.
    public func reset() throws {
        region = nil
        try landmarker.resetSmoothing()
    }
}

/// Frames per second from frame timestamps (exponential moving average of the interval).
public final class FpsMeter {
    /// Weight of the newest interval.
    public let smoothing: Double
    private var last: Double?
    private var interval: Double?

    public init(smoothing: Double = 0.1) { self.smoothing = smoothing }

    public func tick(_ timestamp: Double) {
        defer { last = timestamp }
        guard let l = last, timestamp > l else { return }
        let dt = timestamp - l
        interval = interval.map { $0 + smoothing * (dt - $0) } ?? dt
    }

    /// Current rate, 0 before two frames.
    public var fps: Double { interval.map { 1 / $0 } ?? 0 }
}

/// Monotonic lap timer.
struct Stopwatch {
    private var start = DispatchTime.now().uptimeNanoseconds

    mutating func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { start = now }
        return Double(now - start) / 1e9
    }
}
