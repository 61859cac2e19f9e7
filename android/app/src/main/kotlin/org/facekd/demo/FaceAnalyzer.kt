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
import org.facekd.LandmarkTracker
import org.facekd.Orientation
import org.facekd.PixelImage
import org.facekd.StageTimings
import java.nio.ByteBuffer

/** What the UI shows for one frame: landmarks in upright image coordinates, timings, FPS. */
class FrameResult(
    val uprightPoints: FloatArray,
    val uprightWidth: Int,
    val uprightHeight: Int,
    val timings: StageTimings,
    val fps: Double,
    val tracking: Boolean,
)

/**
 * CameraX `YUV_420_888` frames -> facekd, read in place (NV12/NV21 views of the planes, strides
 * honoured, no conversion): ML Kit finds the first face, then each frame is cropped from the
 * previous frame's landmarks. Runs on the analysis executor; [onResult] gets null when no face.
 */
class FaceAnalyzer(
    private val tracker: LandmarkTracker,
    private val onResult: (FrameResult?) -> Unit,
    private val onError: (String) -> Unit,
) : ImageAnalysis.Analyzer {
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
            val frame = tracker.process(pixels, timestamp, orientation.cropRotation) {
                val media = proxy.image ?: return@process null
                val faces = Tasks.await(detector.process(InputImage.fromMediaImage(media, orientation.rotationDegrees)))
                val face = faces.maxByOrNull { it.boundingBox.width() } ?: return@process null
                val r = face.boundingBox // upright pixel edges -> continuous coordinates
                orientation.boxToBuffer(FaceBox(r.left - 0.5f, r.top - 0.5f, r.width().toFloat(), r.height().toFloat()))
            }
            onResult(frame?.let {
                FrameResult(orientation.toUpright(it.result.points), orientation.uprightWidth, orientation.uprightHeight,
                    it.result.timings, tracker.fps.fps, tracker.region != null)
            })
        } catch (e: FacekdException) {
            tracker.reset()
            onError(e.message ?: e.detail)
        } finally {
            proxy.close()
        }
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
