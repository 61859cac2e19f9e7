package org.facekd.demo

import androidx.annotation.OptIn
import androidx.camera.core.ExperimentalGetImage
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import com.google.android.gms.tasks.Tasks
import com.google.mlkit.vision.common.InputImage
import com.google.mlkit.vision.face.FaceDetection
import com.google.mlkit.vision.face.FaceDetectorOptions
import org.facekd.FaceBox
import org.facekd.FacekdException
import org.facekd.Detection
import org.facekd.FaceLandmarker
import org.facekd.FpsMeter
import org.facekd.Orientation
import org.facekd.PixelImage
import java.nio.ByteBuffer
import kotlin.math.cos
import kotlin.math.sin

/** What the UI shows for one frame: landmarks in upright image coordinates, timings, FPS. */
class FrameResult(
    val uprightPoints: FloatArray,
    val uprightWidth: Int,
    val uprightHeight: Int,
    val detectSeconds: Double,
    val landmarkSeconds: Double,
    val fps: Double,
    val tracking: Boolean,
)

/**
 * CameraX `YUV_420_888` frames -> facekd, read in place (NV12/NV21 views of the planes, strides
 * honoured, no conversion): ML Kit finds a face when none is tracked; everything else (box mapping,
 * roll, crop, tracking, smoothing) is the C landmarker behind [FaceLandmarker]. Runs on the analysis
 * executor; [onResult] gets null when no face.
 */
class FaceAnalyzer(
    private val landmarker: FaceLandmarker,
    private val onResult: (FrameResult?) -> Unit,
    private val onError: (String) -> Unit,
) : ImageAnalysis.Analyzer {
    private val fps = FpsMeter()
    private val detector = FaceDetection.getClient(
        FaceDetectorOptions.Builder().setPerformanceMode(FaceDetectorOptions.PERFORMANCE_MODE_FAST).build()
    )

    @OptIn(ExperimentalGetImage::class)
    override fun analyze(image: ImageProxy) {
        val proxy = image
        try {
            val orientation = Orientation(proxy.imageInfo.rotationDegrees, proxy.width, proxy.height)
            val pixels = pixelImage(proxy)
            val timestamp = proxy.imageInfo.timestamp / 1e9
            fps.tick(timestamp)
            val t0 = System.nanoTime()
            val detections = if (landmarker.tracking) null else detect(proxy, orientation)
            val t1 = System.nanoTime()
            val face = landmarker.process(pixels, detections, timestamp).face
            val t2 = System.nanoTime()
            onResult(face?.let {
                FrameResult(orientation.toUpright(it.points), orientation.uprightWidth, orientation.uprightHeight,
                    (t1 - t0) / 1e9, (t2 - t1) / 1e9, fps.fps, landmarker.tracking)
            })
        } catch (e: FacekdException) {
            landmarker.reset()
            onError(e.message ?: e.detail)
        } finally {
            proxy.close()
        }
    }

    /**
     * ML Kit's largest face in buffer coordinates. ML Kit gives no eye keypoints in this mode, so the
     * buffer's sensor rotation is passed as two synthetic eye keypoints at that roll (the landmarker
     * takes a detection's roll from its eyes).
     */
    @OptIn(ExperimentalGetImage::class)
    private fun detect(proxy: ImageProxy, orientation: Orientation): List<Detection> {
        val media = proxy.image ?: return emptyList()
        val faces = Tasks.await(detector.process(InputImage.fromMediaImage(media, orientation.rotationDegrees)))
        val face = faces.maxByOrNull { it.boundingBox.width() } ?: return emptyList()
        val r = face.boundingBox // upright pixel edges -> continuous coordinates
        val box = orientation.boxToBuffer(FaceBox(r.left - 0.5f, r.top - 0.5f, r.width().toFloat(), r.height().toFloat()))
        val a = Math.toRadians(orientation.cropRotation.toDouble())
        val d = box.width / 4
        val eyes = floatArrayOf(box.centerX - d * cos(a).toFloat(), box.centerY - d * sin(a).toFloat(),
            box.centerX + d * cos(a).toFloat(), box.centerY + d * sin(a).toFloat())
        return listOf(Detection(box, 1f, eyes))
    }

    /** The frame's planes as a facekd image: in place when semi-planar, else one NV21 copy. */
    private fun pixelImage(proxy: ImageProxy): PixelImage {
        val (y, u, v) = proxy.planes
        return if (u.pixelStride == 2) {
            PixelImage.yuv420(proxy.width, proxy.height, y.buffer, y.rowStride, y.pixelStride,
                u.buffer, v.buffer, u.rowStride, u.pixelStride)
        } else {
            PixelImage.nv21(planarToNv21(proxy), proxy.width, proxy.height)
        }
    }

    /** Fallback for planar (I420-like) chroma: interleave V,U into a contiguous NV21 frame. */
    private fun planarToNv21(proxy: ImageProxy): ByteArray {
        val w = proxy.width
        val h = proxy.height
        val cw = (w + 1) / 2
        val ch = (h + 1) / 2
        val out = ByteArray(w * h + 2 * cw * ch)
        val (y, u, v) = proxy.planes
        fun at(b: ByteBuffer, i: Int) = b.get(i)
        for (row in 0 until h) for (col in 0 until w) out[row * w + col] = at(y.buffer, row * y.rowStride + col * y.pixelStride)
        var o = w * h
        for (row in 0 until ch) for (col in 0 until cw) {
            out[o++] = at(v.buffer, row * v.rowStride + col * v.pixelStride)
            out[o++] = at(u.buffer, row * u.rowStride + col * u.pixelStride)
        }
        return out
    }

    fun close() = detector.close()
}
