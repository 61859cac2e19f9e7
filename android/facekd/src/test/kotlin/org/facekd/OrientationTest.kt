package org.facekd

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test
import kotlin.random.Random

class OrientationTest {
    private val w = 13
    private val h = 9
    private val buffer = Random(3).let { r -> ByteArray(w * h) { r.nextInt(256).toByte() } }

    /** The buffer turned clockwise by [degrees], pixel by pixel (the meaning of CameraX rotationDegrees). */
    private fun rotateClockwise(degrees: Int): Triple<ByteArray, Int, Int> {
        var img = buffer
        var iw = w
        var ih = h
        repeat(degrees / 90) {
            // Clockwise: the top row becomes the right column.
            val out = ByteArray(iw * ih)
            for (y in 0 until ih) for (x in 0 until iw) out[x * ih + (ih - 1 - y)] = img[y * iw + x]
            img = out
            val t = iw; iw = ih; ih = t
        }
        return Triple(img, iw, ih)
    }

    @Test
    fun pointsRoundTripAndCornersMove() {
        val pts = floatArrayOf(0f, 0f, 12f, 0f, 3.25f, 7.5f)
        for (r in listOf(0, 90, 180, 270)) {
            val o = Orientation(r, w, h)
            assertArrayEquals(pts, o.toBuffer(o.toUpright(pts)), 1e-6f)
        }
        // Clockwise 90: the buffer's top-left pixel ends at the upright image's top-right.
        val o = Orientation(90, w, h)
        assertEquals(h, o.uprightWidth)
        assertArrayEquals(floatArrayOf(h - 1f, 0f), o.toUpright(floatArrayOf(0f, 0f)), 0f)
    }

    @Test
    fun cropFromBufferEqualsCropFromRotatedImage() {
        val params = CropParams(outSize = 8, channels = 1, mean = listOf(0f), std = listOf(1f))
        for (r in listOf(0, 90, 180, 270)) {
            val o = Orientation(r, w, h)
            val (upright, uw, uh) = rotateClockwise(r)
            assertEquals(o.uprightWidth, uw)
            assertEquals(o.uprightHeight, uh)
            val box = FaceBox(1.5f, 2.25f, 5f, 5f)
            val expected = Kernels.cropBox(PixelImage.packed(upright, uw, uh, uw, PixelFormat.GRAY8), box, 1.2f,
                params = params).tensor
            val got = Kernels.cropBox(PixelImage.packed(buffer, w, h, w, PixelFormat.GRAY8), o.boxToBuffer(box), 1.2f,
                o.cropRotation, params = params).tensor
            assertArrayEquals("rotation $r", expected, got, 1e-3f)
        }
    }

    @Test
    fun rejectsOddRotation() {
        assertFacekdError(Status.INVALID_ARGUMENT, "rotationDegrees") { Orientation(45, w, h) }
    }
}
