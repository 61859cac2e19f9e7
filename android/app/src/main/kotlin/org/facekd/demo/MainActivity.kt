package org.facekd.demo

import android.Manifest
import android.content.pm.PackageManager
import android.graphics.Color
import android.os.Bundle
import android.view.Gravity
import android.widget.FrameLayout
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import org.facekd.FaceLandmarker
import org.facekd.LandmarkerOptions
import org.facekd.BoxTransform
import java.io.File
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/** Front camera preview + landmark overlay + FPS and timings. */
class MainActivity : ComponentActivity() {
    private lateinit var preview: PreviewView
    private lateinit var overlay: OverlayView
    private lateinit var stats: TextView
    private val executor: ExecutorService = Executors.newSingleThreadExecutor()
    private var model: ExecuTorchHeatmapModel? = null
    private var landmarker: FaceLandmarker? = null
    private var analyzer: FaceAnalyzer? = null

    private val permission = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else stats.text = "camera permission denied"
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        preview = PreviewView(this).apply { scaleType = PreviewView.ScaleType.FILL_CENTER }
        overlay = OverlayView(this)
        stats = TextView(this).apply {
            setTextColor(Color.WHITE)
            setBackgroundColor(0x80000000.toInt())
            typeface = android.graphics.Typeface.MONOSPACE
            setPadding(16, 16, 16, 16)
        }
        setContentView(FrameLayout(this).apply {
            addView(preview)
            addView(overlay)
            addView(stats, FrameLayout.LayoutParams(FrameLayout.LayoutParams.WRAP_CONTENT,
                FrameLayout.LayoutParams.WRAP_CONTENT, Gravity.TOP or Gravity.START))
        })
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            permission.launch(Manifest.permission.CAMERA)
        }
    }

    /** Copies an asset to app storage (ExecuTorch loads models from files). */
    private fun assetFile(name: String): File? {
        if (name !in (assets.list("") ?: emptyArray())) return null
        val file = File(filesDir, name)
        assets.open(name).use { input -> file.outputStream().use { input.copyTo(it) } }
        return file
    }

    private fun startCamera() {
        val pte = assetFile("facekd.pte") ?: run {
            stats.text = "no facekd.pte in app/src/main/assets (see android/README.md)"
            return
        }
        assetFile("facekd.json")
        val m = ExecuTorchHeatmapModel(pte).also { model = it }
        // ML Kit boxes go through the same detector-box mapping as every platform (BoxTransform.ML_KIT)
        val lm = FaceLandmarker(m.card, m, LandmarkerOptions(detectorTransform = BoxTransform.ML_KIT))
            .also { landmarker = it }
        val a = FaceAnalyzer(lm, ::showResult) { msg -> runOnUiThread { stats.text = msg } }
        analyzer = a

        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            val provider = providerFuture.get()
            val previewUseCase = Preview.Builder().build().also { it.setSurfaceProvider(preview.surfaceProvider) }
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_YUV_420_888)
                .build()
                .also { it.setAnalyzer(executor, a) }
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_FRONT_CAMERA, previewUseCase, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    private fun showResult(frame: FrameResult?) = runOnUiThread {
        if (frame == null) {
            overlay.clear()
            stats.text = "looking for a face…"
            return@runOnUiThread
        }
        // PreviewView mirrors the front camera; the analysed frames are not mirrored.
        overlay.show(frame.uprightPoints, frame.uprightWidth, frame.uprightHeight, mirrored = true,
            isTracking = frame.tracking)
        stats.text = String.format(Locale.US, "%.1f FPS  %s\ndetect %.1f  landmarks %.1f ms",
            frame.fps, if (frame.tracking) "tracking" else "detecting", frame.detectSeconds * 1e3,
            frame.landmarkSeconds * 1e3)
    }

    override fun onDestroy() {
        super.onDestroy()
        executor.shutdown()
        executor.awaitTermination(1, java.util.concurrent.TimeUnit.SECONDS)
        analyzer?.close()
        landmarker?.close()
        model?.close()
    }
}
