package org.facekd.demo

import android.content.Context
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import android.view.View

/**
 * Landmarks over a `PreviewView` in FILL_CENTER mode: points in upright image coordinates (pixel
 * centre at i) are scaled like the preview, and mirrored for the front camera.
 */
class OverlayView(context: Context) : View(context) {
    private val paint = Paint().apply {
        strokeWidth = 8f
        strokeCap = Paint.Cap.ROUND
        isAntiAlias = true
    }
    private var points = FloatArray(0)
    private var imageWidth = 1
    private var imageHeight = 1
    private var mirror = false
    private var tracking = false

    fun show(uprightPoints: FloatArray, width: Int, height: Int, mirrored: Boolean, isTracking: Boolean) {
        points = uprightPoints
        imageWidth = width
        imageHeight = height
        mirror = mirrored
        tracking = isTracking
        invalidate()
    }

    fun clear() {
        points = FloatArray(0)
        invalidate()
    }

    override fun onDraw(canvas: Canvas) {
        if (points.isEmpty()) return
        val scale = maxOf(width.toFloat() / imageWidth, height.toFloat() / imageHeight)
        val dx = (width - imageWidth * scale) / 2
        val dy = (height - imageHeight * scale) / 2
        val mapped = FloatArray(points.size)
        for (i in 0 until points.size / 2) {
            val x = if (mirror) imageWidth - 1 - points[2 * i] else points[2 * i]
            mapped[2 * i] = (x + 0.5f) * scale + dx
            mapped[2 * i + 1] = (points[2 * i + 1] + 0.5f) * scale + dy
        }
        paint.color = if (tracking) Color.GREEN else Color.YELLOW
        canvas.drawPoints(mapped, paint)
    }
}
