import CFacekd
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

/// Detector box -> landmark box: the centre moves by (dx * w, dy * h), the size scales by (sw, sh)
/// (`BoxTransform` of python/facekd/detectors.py, fitted per detector).
public struct BoxTransform: Equatable, Sendable {
    public var dx: Float, dy: Float, sw: Float, sh: Float
    public init(dx: Float = 0, dy: Float = 0, sw: Float = 1, sh: Float = 1) {
        self.dx = dx; self.dy = dy; self.sw = sw; self.sh = sh
    }
    public static let identity = BoxTransform()
    /// Apple Vision face rectangles: no calibration data exists for Vision yet (it does not run on
    /// the training hosts), so this is an explicit identity. Fit it with `facekd bench detector` on
    /// exported device detections and store it here when there is.
    public static let vision = BoxTransform.identity
}

/// One face detection in the detector's convention: box (image pixels), score and optional
/// keypoints in YuNet order (image-left eye, image-right eye, nose tip, mouth corners); the two eyes
/// give the first crop's roll.
public struct Detection {
    public var box: FaceBox
    public var score: Float
    public var keypoints: [Point]
    public init(box: FaceBox, score: Float = 1, keypoints: [Point] = []) {
        self.box = box; self.score = score; self.keypoints = keypoints
    }
}

/// Options of the C landmarker (`fk_landmarker_options`); defaults are the library's.
public struct LandmarkerOptions {
    public var detectorTransform = BoxTransform.identity
    public var recropDegrees: Float = 5
    public var maxRecrops = 2
    /// NaN: the model card's `loss_threshold` (measured per model; 0.3 for a card without one).
    public var lossThreshold: Float = .nan
    public var minFace: Float = 16
    /// nil disables the One-Euro filter.
    public var smoothing: SmootherParams? = .default
    public init() {}
}

/// The face of one frame.
public struct Face {
    /// Landmarks in image pixels (smoothed when the landmarker smooths) and before smoothing.
    public var points: [Point]
    public var rawPoints: [Point]
    public var scores: [Float]
    /// Landmark-convention box of the crop, in the face's upright frame.
    public var box: FaceBox
    /// The roll the crop used.
    public var rollDegrees: Float
    public var score: Float
    /// Index of the detection it came from; -1 when tracked.
    public var detectionIndex: Int
    public var passes: Int
}

/// One processed frame.
public struct FrameOutput {
    public var face: Face?
    public var detectorRan: Bool
    public var lost: Bool
}

/// One face through a video: a thin shell over the C landmarker (`fk_landmarker`, video mode),
/// which owns card parsing, detector-box mapping, roll, crop, decode, roll re-crop, tracking and
/// smoothing. The model is called back synchronously from `process`. Pass detections when
/// `tracking` is false (they are ignored while a face is tracked). Not thread-safe.
public final class FaceLandmarker {
    public let card: ModelCard
    public let model: HeatmapModel
    public private(set) var tracking = false
    private var handle: OpaquePointer?
    private var pendingError: Error?

    public init(card: ModelCard, model: HeatmapModel, options: LandmarkerOptions = LandmarkerOptions()) throws {
        try require(card.outputType == "heatmap",
                    "FaceLandmarker needs a heatmap model, the card says output_type '\(card.outputType)'")
        self.card = card
        self.model = model
        var o = fk_landmarker_options()
        try check(fk_landmarker_options_default(&o))
        o.mode = FK_MODE_VIDEO
        let t = options.detectorTransform
        o.detector_transform = fk_box_transform(dx: t.dx, dy: t.dy, sw: t.sw, sh: t.sh)
        o.recrop_degrees = options.recropDegrees
        o.max_recrops = Int32(options.maxRecrops)
        o.loss_threshold = options.lossThreshold
        o.min_face = options.minFace
        o.smooth = options.smoothing == nil ? 0 : 1
        if let s = options.smoothing { o.smoother = s.c }
        o.model = { user, crops, n, size, out, count in
            let me = Unmanaged<FaceLandmarker>.fromOpaque(user!).takeUnretainedValue()
            return me.runModel(crops!, Int(n), Int(size), out!, Int(count))
        }
        o.model_user = nil
        var h: OpaquePointer?
        // the handle needs `self` as its user pointer: create after all stored properties are set
        o.model_user = Unmanaged.passUnretained(self).toOpaque()
        try check(fk_landmarker_create(card.json, &o, &h))
        handle = h
    }

    deinit { fk_landmarker_destroy(handle) }

    private func runModel(_ crops: UnsafePointer<Float>, _ n: Int, _ size: Int, _ out: UnsafeMutablePointer<Float>,
                          _ count: Int) -> Int32 {
        let plane = 3 * size * size, per = card.outputLength
        do {
            for i in 0..<n {
                let hm = try model.predict(input: UnsafeBufferPointer(start: crops + i * plane, count: plane), size: size)
                try require(hm.keypoints == card.numKeypoints && hm.width == card.heatmapSize
                            && hm.height == card.heatmapSize && hm.values.count == per,
                            "model returned \(hm.keypoints) heatmaps of \(hm.width)x\(hm.height), the card says " +
                            "\(card.numKeypoints) of \(card.heatmapSize)x\(card.heatmapSize)")
                hm.values.withUnsafeBufferPointer { (out + i * per).update(from: $0.baseAddress!, count: per) }
            }
            return count == n * per ? 0 : 9
        } catch {
            pendingError = error
            return 1
        }
    }

    /// One frame at `timestamp` seconds (strictly increasing until `reset`); `detections` nil: none given.
    public func process(_ image: PixelImage, detections: [Detection]?, timestamp: Double) throws -> FrameOutput {
        let k = card.numKeypoints
        var dets: [fk_detection] = try (detections ?? []).map { d in
            try require(d.keypoints.count <= 5, "a detection has at most 5 keypoints, got \(d.keypoints.count)")
            var c = fk_detection()
            c.box = (d.box.x, d.box.y, d.box.width, d.box.height)
            c.score = d.score
            c.num_keypoints = Int32(d.keypoints.count)
            withUnsafeMutableBytes(of: &c.keypoints) { raw in
                let kp = raw.bindMemory(to: Float.self)
                for (i, p) in d.keypoints.enumerated() { kp[2 * i] = p.x; kp[2 * i + 1] = p.y }
            }
            return c
        }
        var pts = [Float](repeating: 0, count: 2 * k), raw = pts, scores = [Float](repeating: 0, count: k)
        var face = fk_face()
        var r = fk_landmarker_result()
        var img = image.c
        pendingError = nil
        let status: fk_status = pts.withUnsafeMutableBufferPointer { p in
            raw.withUnsafeMutableBufferPointer { rp in
                scores.withUnsafeMutableBufferPointer { sp in
                    dets.withUnsafeMutableBufferPointer { dp in
                        withUnsafeMutablePointer(to: &face) { fp in
                            r.capacity = 1; r.faces = fp
                            r.landmarks = p.baseAddress; r.raw_landmarks = rp.baseAddress; r.scores = sp.baseAddress
                            var given = fk_detections(items: UnsafePointer(dp.baseAddress), count: Int32(dp.count),
                                                      transform: nil)
                            return detections == nil ? fk_landmarker_process(handle, &img, nil, timestamp, &r)
                                                     : fk_landmarker_process(handle, &img, &given, timestamp, &r)
                        }
                    }
                }
            }
        }
        if let e = pendingError { pendingError = nil; throw e }
        try check(status)
        tracking = r.count > 0
        func points(_ v: [Float]) -> [Point] { (0..<k).map { Point(x: v[2 * $0], y: v[2 * $0 + 1]) } }
        let out: Face? = r.count == 0 ? nil : Face(
            points: points(pts), rawPoints: points(raw), scores: scores,
            box: FaceBox(x: face.box.0, y: face.box.1, width: face.box.2, height: face.box.3),
            rollDegrees: face.rotation_deg, score: face.score, detectionIndex: Int(face.detection_index),
            passes: Int(face.passes))
        return FrameOutput(face: out, detectorRan: r.detector_ran != 0, lost: r.lost != 0)
    }

    /// Forgets the tracked face and the smoother (timestamps start over).
    public func reset() throws {
        try check(fk_landmarker_reset(handle))
        tracking = false
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
public struct Stopwatch {
    private var start = DispatchTime.now().uptimeNanoseconds

    public init() {}

    public mutating func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { start = now }
        return Double(now - start) / 1e9
    }
}
