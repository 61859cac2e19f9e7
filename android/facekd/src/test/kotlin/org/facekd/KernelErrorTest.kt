package org.facekd

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.nio.ByteBuffer

/** Error paths: every failure carries the C status and a message naming the problem. */
class KernelErrorTest {
    @Test
    fun versionAndStatusNamesComeFromC() {
        assertTrue(facekdVersion, Regex("""\d+\.\d+\.\d+""").matches(facekdVersion))
        assertEquals("FK_ERR_INVALID_ARGUMENT", Status.INVALID_ARGUMENT.cName)
        assertEquals("FK_ERR_NON_FINITE", Status.NON_FINITE.cName)
    }

    @Test
    fun defaultsComeFromC() {
        assertEquals(256, CropParams.DEFAULT.outSize)
        assertEquals(3, CropParams.DEFAULT.channels)
        assertEquals(DecodeMode.ARGMAX, DecodeParams.DEFAULT.mode)
        assertEquals(1.0f, SmootherParams.DEFAULT.minCutoff)
    }

    @Test
    fun decodeErrors() {
        val maps = FloatArray(2 * 3 * 4 * 4)
        maps[(1 * 3 + 2) * 16 + 5] = Float.NaN
        assertFacekdError(Status.NON_FINITE, "heatmaps[1, 2]") { Kernels.decodeHeatmaps(maps, 2, 3, 4, 4) }
        assertFacekdError(Status.INVALID_ARGUMENT, "n*k*h*w") { Kernels.decodeHeatmaps(FloatArray(10), 1, 1, 4, 4) }
        assertFacekdError(Status.INVALID_ARGUMENT, "params.blur_sigma") {
            Kernels.decodeHeatmaps(FloatArray(16), 1, 1, 4, 4, DecodeParams(DecodeMode.DARK, -1f, 1f))
        }
    }

    @Test
    fun jniChecksArrayBoundsItself() {
        // Calls below the Kotlin layer: the bridge must refuse ranges that would overrun Java arrays.
        assertFacekdError(Status.INVALID_ARGUMENT, "heatmaps has 10 elements") {
            NativeBridge.decodeHeatmaps(FloatArray(10), 0, 1, 1, 4, 4, 0, 1f, 1f, FloatArray(2), FloatArray(1))
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "coords has 1 elements") {
            NativeBridge.decodeHeatmaps(FloatArray(16), 0, 1, 1, 4, 4, 0, 1f, 1f, FloatArray(1), FloatArray(1))
        }
        val pixels = ByteArray(10)
        assertFacekdError(Status.INVALID_ARGUMENT, "image plane has 10 bytes") {
            NativeBridge.crop(null, pixels, 0, 10, 4, 4, 4, PixelFormat.GRAY8.code, null, null, 0, 0, null, 0,
                floatArrayOf(0f, 0f, 4f, 4f), 1f, 0f, false, FloatArray(6), 4, 3, FloatArray(3), FloatArray(3) { 1f }, 0f,
                FloatArray(48), 0)
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "out has 47 elements") {
            NativeBridge.crop(null, ByteArray(16), 0, 16, 4, 4, 4, PixelFormat.GRAY8.code, null, null, 0, 0, null, 0,
                floatArrayOf(0f, 0f, 4f, 4f), 1f, 0f, false, FloatArray(6), 4, 3, FloatArray(3), FloatArray(3) { 1f }, 0f,
                FloatArray(47), 0)
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "exceeds the buffer capacity") {
            NativeBridge.crop(ByteBuffer.allocateDirect(8), null, 4, 8, 2, 2, 2, PixelFormat.GRAY8.code, null, null, 0, 0,
                null, 0, floatArrayOf(0f, 0f, 2f, 2f), 1f, 0f, false, FloatArray(6), 2, 1, FloatArray(3),
                FloatArray(3) { 1f }, 0f, FloatArray(4), 0)
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "pts has 3 elements") {
            NativeBridge.pointsTransform(FloatArray(3), 2, FloatArray(6), FloatArray(4))
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "smoother is closed") {
            NativeBridge.smootherApply(0L, 2, FloatArray(2), 1.0, FloatArray(2))
        }
    }

    @Test
    fun cropErrors() {
        val image = PixelImage.packed(ByteArray(8 * 6 * 3) { 100 }, 8, 6, 24, PixelFormat.RGB8)
        val params = CropParams.DEFAULT.copy(outSize = 8)
        assertFacekdError(Status.INVALID_ARGUMENT, "does not overlap") {
            Kernels.cropBox(image, FaceBox(100f, 100f, 5f, 5f), 1f, params = params)
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "box width and height") {
            Kernels.cropBox(image, FaceBox(1f, 1f, 0f, 5f), 1f, params = params)
        }
        assertFacekdError(Status.NON_FINITE, "box[2]") {
            Kernels.cropBox(image, FaceBox(1f, 1f, Float.NaN, 5f), 1f, params = params)
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "params.std[1]") {
            Kernels.cropBox(image, FaceBox(1f, 1f, 4f, 4f), 1f, params = params.copy(std = listOf(1f, 0f, 1f)))
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "output array has 10 floats") {
            Kernels.cropBox(image, FaceBox(1f, 1f, 4f, 4f), 1f, params = params, out = FloatArray(10))
        }
    }

    @Test
    fun pixelImageChecksSizes() {
        assertFacekdError(Status.INVALID_ARGUMENT, "stride 3 is smaller than a row") {
            PixelImage.packed(ByteArray(10), 4, 2, 3, PixelFormat.BGRA8)
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "data has 10 bytes") {
            PixelImage.packed(ByteArray(10), 2, 2, 8, PixelFormat.BGRA8)
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "bi-planar") { PixelImage.packed(ByteArray(10), 2, 2, 2, PixelFormat.NV12) }
        assertFacekdError(Status.INVALID_ARGUMENT, "chroma has 3 bytes") {
            PixelImage.biPlanar(ByteBuffer.wrap(ByteArray(8)), 4, ByteBuffer.wrap(ByteArray(3)), 4, 4, 2, PixelFormat.NV21)
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "read-only heap ByteBuffer") {
            PixelImage.packed(ByteBuffer.wrap(ByteArray(16)).asReadOnlyBuffer(), 4, 4, 4, PixelFormat.GRAY8)
        }
    }

    @Test
    fun geometryErrors() {
        assertFacekdError(Status.INVALID_ARGUMENT, "singular") {
            Affine(floatArrayOf(1f, 2f, 0f, 2f, 4f, 0f)).inverted()
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "affine needs 6 values") { Affine(FloatArray(5)) }
        assertFacekdError(Status.INVALID_ARGUMENT, "n must be") { Kernels.boxFromLandmarks(FloatArray(0)) }
        assertFacekdError(Status.NON_FINITE, "pts[0]") { Kernels.boxFromLandmarks(floatArrayOf(0f, Float.POSITIVE_INFINITY)) }
        assertFacekdError(Status.INVALID_ARGUMENT, "eye corner") { Kernels.boxFromLandmarks(floatArrayOf(0f, 0f), 0 to 3) }
        assertFacekdError(Status.INVALID_ARGUMENT, "(x, y) pairs") { Kernels.transform(FloatArray(3), Affine.IDENTITY) }
    }

    @Test
    fun smootherErrorsLeaveStateUnchanged() {
        assertFacekdError(Status.INVALID_ARGUMENT, "valueCount") { Smoother(0) }
        assertFacekdError(Status.INVALID_ARGUMENT, "min_cutoff") { Smoother(2, SmootherParams(0f, 0f, 1f)) }
        val s = Smoother(2)
        assertArrayEquals(floatArrayOf(1f, 2f), s.apply(floatArrayOf(1f, 2f), 1.0), 0f)
        assertFacekdError(Status.INVALID_ARGUMENT, "timestamp") { s.apply(floatArrayOf(5f, 5f), 1.0) }
        assertFacekdError(Status.NON_FINITE, "values[0]") { s.apply(floatArrayOf(Float.NaN, 5f), 2.0) }
        assertFacekdError(Status.INVALID_ARGUMENT, "expected 2 values") { s.apply(floatArrayOf(1f), 2.0) }
        val out = s.apply(floatArrayOf(3f, 2f), 1.1)
        assertTrue(out[0] > 1f && out[0] < 3f)
        assertEquals(2f, out[1], 1e-6f)
        s.reset()
        assertArrayEquals(floatArrayOf(7f, 8f), s.apply(floatArrayOf(7f, 8f), 0.5), 0f)
        s.close()
        assertTrue(s.isClosed)
        assertFacekdError(Status.INVALID_ARGUMENT, "smoother is closed") { s.apply(floatArrayOf(1f, 2f), 3.0) }
        s.close() // idempotent
    }
}
