package org.facekd

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.nio.ByteBuffer
import kotlin.random.Random

/**
 * CameraX `YUV_420_888` frames read in place: the U and V plane buffers of a semi-planar image are
 * views into one interleaved chroma block, one byte apart, each one byte short of the block's end.
 */
class Yuv420Test {
    private val width = 37
    private val height = 23
    private val yStride = 48
    private val uvStride = 64
    private val random = Random(11)
    private val luma = ByteArray(yStride * height) { random.nextInt(256).toByte() }
    private val chromaRows = (height + 1) / 2
    private val chroma = ByteArray(uvStride * chromaRows) { random.nextInt(256).toByte() }
    private val params = CropParams.DEFAULT.copy(outSize = 24)
    private val box = FaceBox(5.5f, 3.25f, 24f, 17f)

    /** The planes as CameraX hands them over: direct buffers over one allocation. */
    private fun cameraPlanes(firstIsV: Boolean): Triple<ByteBuffer, ByteBuffer, ByteBuffer> {
        val block = ByteBuffer.allocateDirect(luma.size + chroma.size)
        block.put(luma).put(chroma)
        fun view(start: Int, length: Int): ByteBuffer =
            (block.duplicate().position(start).limit(start + length) as ByteBuffer).slice()
        val y = view(0, luma.size)
        val first = view(luma.size, chroma.size - 1)
        val second = view(luma.size + 1, chroma.size - 1)
        return if (firstIsV) Triple(y, second, first) else Triple(y, first, second)
    }

    private fun reference(format: PixelFormat): FloatArray =
        Kernels.cropBox(PixelImage.biPlanar(ByteBuffer.wrap(luma), yStride, ByteBuffer.wrap(chroma), uvStride,
            width, height, format), box, 1.3f, 7f, params = params).tensor

    @Test
    fun nv21LayoutIsReadInPlace() {
        val (y, u, v) = cameraPlanes(firstIsV = true)
        val image = PixelImage.yuv420(width, height, y, yStride, 1, u, v, uvStride, 2)
        assertEquals(PixelFormat.NV21, image.format)
        assertArrayEquals(reference(PixelFormat.NV21), Kernels.cropBox(image, box, 1.3f, 7f, params = params).tensor, 0f)
    }

    @Test
    fun nv12LayoutIsReadInPlace() {
        val (y, u, v) = cameraPlanes(firstIsV = false)
        val image = PixelImage.yuv420(width, height, y, yStride, 1, u, v, uvStride, 2)
        assertEquals(PixelFormat.NV12, image.format)
        assertArrayEquals(reference(PixelFormat.NV12), Kernels.cropBox(image, box, 1.3f, 7f, params = params).tensor, 0f)
    }

    @Test
    fun chromaActuallyMatters() {
        // The NV21 and NV12 readings of the same bytes differ: the format was not ignored.
        val a = reference(PixelFormat.NV21)
        val b = reference(PixelFormat.NV12)
        assertTrue(a.indices.any { a[it] != b[it] })
    }

    @Test
    fun rejectsLayoutsThatCannotBeReadInPlace() {
        val (y, u, v) = cameraPlanes(firstIsV = true)
        assertFacekdError(Status.INVALID_ARGUMENT, "pixel stride 1") {
            PixelImage.yuv420(width, height, y, yStride, 1, u, v, uvStride, 1)
        }
        val separate = ByteBuffer.allocateDirect(chroma.size)
        assertFacekdError(Status.INVALID_ARGUMENT, "do not interleave") {
            PixelImage.yuv420(width, height, y, yStride, 1, u, separate, uvStride, 2)
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "direct ByteBuffers") {
            PixelImage.yuv420(width, height, ByteBuffer.wrap(luma), yStride, 1, u, v, uvStride, 2)
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "chroma planes has") {
            PixelImage.yuv420(width, height, y, yStride, 1, u, v, uvStride + 8, 2)
        }
    }

    @Test
    fun contiguousNv21Frame() {
        val frame = ByteArray(width * height + 2 * ((width + 1) / 2) * chromaRows) { random.nextInt(256).toByte() }
        val image = PixelImage.nv21(frame, width, height)
        val y = ByteBuffer.wrap(frame, 0, width * height).slice()
        val uv = ByteBuffer.wrap(frame, width * height, frame.size - width * height).slice()
        val expected = Kernels.cropBox(PixelImage.biPlanar(y, width, uv, 2 * ((width + 1) / 2), width, height,
            PixelFormat.NV21), box, 1.3f, params = params).tensor
        assertArrayEquals(expected, Kernels.cropBox(image, box, 1.3f, params = params).tensor, 0f)
    }
}
