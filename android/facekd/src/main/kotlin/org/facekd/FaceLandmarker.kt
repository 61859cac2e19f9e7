package org.facekd

/** Heatmaps of one face: [keypoints, height, width], row-major, from [offset] of [values]. */
class Heatmaps(val values: FloatArray, val keypoints: Int, val height: Int, val width: Int, val offset: Int = 0)

/**
 * The network: one normalised crop [3, size, size] (CHW) in, heatmaps out. The demo app implements
 * it with the ExecuTorch runtime; tests use a synthetic model.
 */
fun interface HeatmapModel {
    fun predict(input: FloatArray, size: Int): Heatmaps
}

/** Wall-clock seconds of each stage of one frame. */
data class StageTimings(
    val detect: Double = 0.0,
    val crop: Double = 0.0,
    val model: Double = 0.0,
    val decode: Double = 0.0,
    val smooth: Double = 0.0,
) {
    val total: Double get() = detect + crop + model + decode + smooth
}

/** Where to crop the next frame: an upright [box] (in the face's own frame) rotated by [rollDegrees]. */
data class TrackingBox(val box: FaceBox, val rollDegrees: Float = 0f) {
    companion object {
        /**
         * From landmarks: the roll of the eye-corner line, then the tight box of the landmarks rotated
         * upright about their centre (a tilted face does not inflate the box), mapped back.
         */
        fun fromLandmarks(points: FloatArray, eyeCorners: Pair<Int, Int>): TrackingBox {
            val (box0, roll) = Kernels.boxFromLandmarks(points, eyeCorners)
            val upright = Affine.rotation(-roll, box0.centerX, box0.centerY)
            val box1 = Kernels.boxFromLandmarks(Kernels.transform(points, upright)).box
            val back = upright.inverted()
            val cx = back.mapX(box1.centerX, box1.centerY)
            val cy = back.mapY(box1.centerX, box1.centerY)
            return TrackingBox(FaceBox.fromCenter(cx, cy, box1.width, box1.height), roll)
        }
    }
}

/** Landmarks of one face: interleaved (x, y) image coordinates, per-point peak scores, the crop used, the next region. */
class LandmarkResult(
    val points: FloatArray,
    val scores: FloatArray,
    val cropToImage: Affine,
    val next: TrackingBox,
    val timings: StageTimings,
) {
    val meanScore: Float get() = if (scores.isEmpty()) 0f else scores.sum() / scores.size
}

/**
 * crop (C) -> model -> decode (C) -> heatmap-to-image (C) -> One-Euro smoothing (C), configured by a
 * model card. [smoothing] null disables the filter. [close] releases the smoother. Not thread-safe:
 * one instance per analysis thread.
 */
class FaceLandmarker(
    val card: ModelCard,
    private val model: HeatmapModel,
    smoothing: SmootherParams? = SmootherParams.DEFAULT,
) : AutoCloseable {
    private val smoother: Smoother?
    private val input = FloatArray(3 * card.inputSize * card.inputSize)
    private var lastTimestamp: Double? = null

    init {
        requireArg(card.outputType == "heatmap") {
            "FaceLandmarker needs a heatmap model, the card says output_type '${card.outputType}'"
        }
        smoother = smoothing?.let { Smoother(2 * card.numKeypoints, it) }
    }

    /**
     * Landmarks of the face in [region]. [timestamp] (seconds) drives the smoother; null skips
     * smoothing; a timestamp not after the previous one restarts the filter.
     */
    fun landmarks(image: PixelImage, region: TrackingBox, timestamp: Double? = null): LandmarkResult {
        var t0 = System.nanoTime()
        fun lap(): Double = System.nanoTime().let { now -> ((now - t0) / 1e9).also { t0 = now } }

        val crop = Kernels.cropBox(image, region.box, card.cropScale, region.rollDegrees, false, card.cropParams, input)
        val cropTime = lap()
        val hm = model.predict(input, card.inputSize)
        val modelTime = lap()
        requireArg(hm.keypoints == card.numKeypoints) {
            "model returned ${hm.keypoints} heatmaps, the card says ${card.numKeypoints} keypoints"
        }
        card.codec?.let {
            requireArg(hm.width == it.heatmapWidth && hm.height == it.heatmapHeight) {
                "model returned ${hm.width}x${hm.height} heatmaps, the card's codec says ${it.heatmapWidth}x${it.heatmapHeight}"
            }
        }
        val decoded = Kernels.decodeHeatmaps(hm.values, 1, hm.keypoints, hm.height, hm.width, card.decodeParams, hm.offset)
        var points = Kernels.heatmapToImage(decoded.points, hm.width, hm.height, card.inputSize, card.inputSize,
            crop.cropToImage)
        val decodeTime = lap()
        if (smoother != null && timestamp != null) {
            lastTimestamp?.let { if (timestamp <= it) smoother.reset() }
            points = smoother.apply(points, timestamp)
            lastTimestamp = timestamp
        }
        val smoothTime = lap()
        val next = TrackingBox.fromLandmarks(points, card.scheme.eyeCorners)
        return LandmarkResult(points, decoded.scores, crop.cropToImage, next,
            StageTimings(0.0, cropTime, modelTime, decodeTime, smoothTime))
    }

    /** Forgets the smoother state (the tracked face was lost or changed). */
    fun resetSmoothing() {
        smoother?.reset()
        lastTimestamp = null
    }

    override fun close() {
        smoother?.close()
    }
}

/**
 * Detect once, then track: each frame's landmarks give the next frame's crop
 * ([TrackingBox.fromLandmarks]); when the mean heatmap peak drops below [minScore] the face is
 * considered lost and the detector runs again on the next frame.
 */
class LandmarkTracker(val landmarker: FaceLandmarker, var minScore: Float = 0.2f) {
    /** The region the next frame will be cropped from; null when no face is tracked. */
    var region: TrackingBox? = null
        private set
    val fps = FpsMeter()

    /** A processed frame; [detected] when the detector supplied the box. */
    class Frame(val result: LandmarkResult, val detected: Boolean)

    /**
     * One frame. [detect] runs only when no face is tracked and returns the face box or null; the
     * first crop of a detected face is rotated by [detectionRollDegrees] (e.g. [Orientation.cropRotation]
     * of a camera frame in sensor orientation; later crops follow the landmarks' roll).
     * Returns null when there is no face.
     */
    fun process(image: PixelImage, timestamp: Double, detectionRollDegrees: Float = 0f, detect: () -> FaceBox?): Frame? {
        fps.tick(timestamp)
        val t0 = System.nanoTime()
        var detected = false
        val current = region ?: run {
            val box = detect() ?: return null
            detected = true
            landmarker.resetSmoothing()
            TrackingBox(box, detectionRollDegrees)
        }
        val detectTime = (System.nanoTime() - t0) / 1e9
        val r = landmarker.landmarks(image, current, timestamp)
        val result = LandmarkResult(r.points, r.scores, r.cropToImage, r.next, r.timings.copy(detect = detectTime))
        if (result.meanScore < minScore) {
            region = null
            landmarker.resetSmoothing()
        } else {
            region = result.next
        }
        return Frame(result, detected)
    }

    /** Drops the tracked face: the next frame runs the detector. */
    fun reset() {
        region = null
        landmarker.resetSmoothing()
    }
}

/** Frames per second from frame timestamps (exponential moving average of the interval). */
class FpsMeter(private val smoothing: Double = 0.1) {
    private var last: Double? = null
    private var interval: Double? = null

    fun tick(timestamp: Double) {
        val l = last
        last = timestamp
        if (l == null || timestamp <= l) return
        val dt = timestamp - l
        interval = interval?.let { it + smoothing * (dt - it) } ?: dt
    }

    /** Current rate, 0 before two frames. */
    val fps: Double get() = interval?.let { 1.0 / it } ?: 0.0
}
