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

/** Called by the C landmarker (through JNI) with n crops; fills [out] with the model outputs. */
internal fun interface ModelCallback {
    fun run(crops: FloatArray, n: Int, size: Int, out: FloatArray): Boolean
}

/**
 * Detector box -> landmark box: the centre moves by (dx * w, dy * h), the size scales by (sw, sh)
 * (`BoxTransform` of python/facekd/detectors.py, fitted per detector by `facekd bench detector`).
 */
data class BoxTransform(val dx: Float = 0f, val dy: Float = 0f, val sw: Float = 1f, val sh: Float = 1f) {
    companion object {
        val IDENTITY = BoxTransform()

        /**
         * ML Kit face detection: no calibration data exists for it yet (no ML Kit on the training
         * hosts), so this is an explicit identity. Fit it with `facekd bench detector` on device
         * exports and store it here when there is.
         */
        val ML_KIT = IDENTITY
    }
}

/**
 * One face detection in the detector's convention: [box] (x, y, w, h image pixels), [score] and
 * optionally [keypoints] (x, y pairs, YuNet order: image-left eye, image-right eye, nose tip, mouth
 * corners; the two eyes give the first crop's roll).
 */
class Detection(val box: FaceBox, val score: Float = 1f, val keypoints: FloatArray? = null)

/** Options of the C landmarker (`fk_landmarker_options`); defaults are the library's. */
data class LandmarkerOptions(
    val detectorTransform: BoxTransform = BoxTransform.IDENTITY,
    val recropDegrees: Float = 5f,
    val maxRecrops: Int = 2,
    /** NaN: the model card's `loss_threshold` (measured per model; 0.3 for a card without one). */
    val lossThreshold: Float = Float.NaN,
    val minFace: Float = 16f,
    /** null disables the One-Euro filter. */
    val smoothing: SmootherParams? = SmootherParams.DEFAULT,
)

/** The face of one frame: [points] (smoothed) and [rawPoints] interleaved (x, y) image pixels. */
class Face(
    val points: FloatArray,
    val rawPoints: FloatArray,
    val scores: FloatArray,
    /** Landmark-convention box of the crop, in the face's upright frame. */
    val box: FaceBox,
    /** The roll the crop used. */
    val rollDegrees: Float,
    val score: Float,
    /** Index of the detection it came from; -1 when tracked. */
    val detectionIndex: Int,
    val passes: Int,
)

/** One processed frame: the face (or null), whether detections were used, whether the track was lost. */
class FrameResult(val face: Face?, val detectorRan: Boolean, val lost: Boolean)

/**
 * One face through a video: a thin shell over the C landmarker (`fk_landmarker`, video mode), which
 * owns the card parsing, detector-box mapping, roll, crop, decode, roll re-crop, tracking and
 * smoothing. Pass detections when [tracking] is false (they are ignored while a face is tracked).
 * Not thread-safe: one instance per analysis thread; [close] releases the native handle.
 */
class FaceLandmarker(
    val card: ModelCard,
    private val model: HeatmapModel,
    options: LandmarkerOptions = LandmarkerOptions(),
) : AutoCloseable {
    private var handle: Long
    private val k = card.numKeypoints
    private val ints = IntArray(5)
    private val faceOut = FloatArray(6)

    /** A face is tracked: the next frame needs no detections. */
    var tracking: Boolean = false
        private set

    init {
        requireArg(card.outputType == "heatmap") {
            "FaceLandmarker needs a heatmap model, the card says output_type '${card.outputType}'"
        }
        val t = options.detectorTransform
        val s = options.smoothing ?: SmootherParams.DEFAULT
        val o = floatArrayOf(t.dx, t.dy, t.sw, t.sh, options.recropDegrees, options.maxRecrops.toFloat(),
            options.lossThreshold, options.minFace, if (options.smoothing != null) 1f else 0f,
            s.minCutoff, s.beta, s.dCutoff)
        handle = NativeBridge.landmarkerCreate(card.json, 1, o, ModelCallback(::runModel))
    }

    private fun runModel(crops: FloatArray, n: Int, size: Int, out: FloatArray): Boolean {
        val plane = 3 * size * size
        val per = card.outputLength
        val input = FloatArray(plane)
        for (i in 0 until n) {
            System.arraycopy(crops, i * plane, input, 0, plane)
            val hm = model.predict(input, size)
            requireArg(hm.keypoints == k && hm.width == card.heatmapSize && hm.height == card.heatmapSize) {
                "model returned ${hm.keypoints} heatmaps of ${hm.width}x${hm.height}, the card says $k of " +
                    "${card.heatmapSize}x${card.heatmapSize}"
            }
            System.arraycopy(hm.values, hm.offset, out, i * per, per)
        }
        return true
    }

    /** One frame at [timestamp] seconds (strictly increasing until [reset]); [detections] null: none given. */
    fun process(image: PixelImage, detections: List<Detection>?, timestamp: Double): FrameResult {
        requireArg(handle != 0L) { "the landmarker is closed" }
        val n = detections?.size ?: -1
        val boxes = FloatArray(4 * maxOf(n, 0))
        val scores = FloatArray(maxOf(n, 0))
        val kpn = IntArray(maxOf(n, 0))
        val kps = FloatArray(10 * maxOf(n, 0))
        detections?.forEachIndexed { i, d ->
            d.box.toArray().copyInto(boxes, 4 * i)
            scores[i] = d.score
            val kp = d.keypoints
            if (kp != null) {
                requireArg(kp.size % 2 == 0 && kp.size <= 10) { "detection keypoints must be up to 5 (x, y) pairs" }
                kpn[i] = kp.size / 2
                kp.copyInto(kps, 10 * i)
            }
        }
        val pts = FloatArray(2 * k)
        val raw = FloatArray(2 * k)
        val sc = FloatArray(k)
        val p = image.plane
        val c = image.chroma
        NativeBridge.landmarkerProcess(
            handle, p.buffer, p.array, p.offset, p.length, image.width, image.height, image.rowStride, image.format.code,
            c?.buffer, c?.array, c?.offset ?: 0, c?.length ?: 0, image.chromaPartner, image.chromaRowStride,
            n, boxes, scores, kpn, kps, timestamp, pts, raw, sc, faceOut, ints,
        )
        tracking = ints[0] > 0
        val face = if (ints[0] == 0) null else Face(pts, raw, sc, FaceBox(faceOut[0], faceOut[1], faceOut[2], faceOut[3]),
            faceOut[4], faceOut[5], ints[3], ints[4])
        return FrameResult(face, ints[1] != 0, ints[2] != 0)
    }

    /** Forgets the tracked face and the smoother (timestamps start over). */
    fun reset() {
        requireArg(handle != 0L) { "the landmarker is closed" }
        NativeBridge.landmarkerReset(handle)
        tracking = false
    }

    override fun close() {
        NativeBridge.landmarkerDestroy(handle)
        handle = 0L
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
