package org.facekd

/**
 * Camera frames arrive in sensor orientation; [rotationDegrees] (0, 90, 180, 270) is the clockwise
 * rotation that makes them upright (CameraX `ImageInfo.rotationDegrees`). facekd crops straight from
 * the unrotated buffer, so boxes and points move between the two frames with these maps
 * (continuous pixel coordinates, pixel centre at i).
 */
class Orientation(val rotationDegrees: Int, val bufferWidth: Int, val bufferHeight: Int) {
    init {
        requireArg(rotationDegrees in setOf(0, 90, 180, 270)) { "rotationDegrees must be 0, 90, 180 or 270, got $rotationDegrees" }
        requireArg(bufferWidth > 0 && bufferHeight > 0) { "buffer size must be positive, got ${bufferWidth}x$bufferHeight" }
    }

    /** Size of the upright image. */
    val uprightWidth: Int get() = if (rotationDegrees % 180 == 0) bufferWidth else bufferHeight
    val uprightHeight: Int get() = if (rotationDegrees % 180 == 0) bufferHeight else bufferWidth

    /** Crop rotation that shows an upright face from the buffer upright (for a detection box). */
    val cropRotation: Float get() = -rotationDegrees.toFloat()

    /** Buffer -> upright coordinates of interleaved (x, y) points. */
    fun toUpright(points: FloatArray): FloatArray = map(points, forward = true)

    /** Upright -> buffer coordinates of interleaved (x, y) points. */
    fun toBuffer(points: FloatArray): FloatArray = map(points, forward = false)

    /** A box given in upright coordinates (e.g. a face detector's) as a box in buffer coordinates. */
    fun boxToBuffer(box: FaceBox): FaceBox {
        val corners = toBuffer(floatArrayOf(box.x, box.y, box.x + box.width, box.y + box.height))
        val x0 = minOf(corners[0], corners[2])
        val y0 = minOf(corners[1], corners[3])
        return FaceBox(x0, y0, maxOf(corners[0], corners[2]) - x0, maxOf(corners[1], corners[3]) - y0)
    }

    private fun map(points: FloatArray, forward: Boolean): FloatArray {
        requireArg(points.size % 2 == 0) { "points must hold (x, y) pairs, got ${points.size} values" }
        // Clockwise rotation by r of a W x H buffer: 90: (x, y) -> (H-1-y, x); 180: (W-1-x, H-1-y);
        // 270: (y, W-1-x). The inverse of 90 is the 270 map of the upright (H x W) image, and so on.
        val r = if (forward) rotationDegrees else (360 - rotationDegrees) % 360
        val w = (if (forward) bufferWidth else uprightWidth) - 1f
        val h = (if (forward) bufferHeight else uprightHeight) - 1f
        val out = FloatArray(points.size)
        for (i in 0 until points.size / 2) {
            val x = points[2 * i]
            val y = points[2 * i + 1]
            when (r) {
                0 -> { out[2 * i] = x; out[2 * i + 1] = y }
                90 -> { out[2 * i] = h - y; out[2 * i + 1] = x }
                180 -> { out[2 * i] = w - x; out[2 * i + 1] = h - y }
                else -> { out[2 * i] = y; out[2 * i + 1] = w - x }
            }
        }
        return out
    }
}
