package org.facekd

import java.nio.ByteBuffer

/** A pixel plane: a direct ByteBuffer (read in place) or a byte array, with a byte range. */
internal class Plane(val buffer: ByteBuffer?, val array: ByteArray?, val offset: Int, val length: Int) {
    companion object {
        fun of(b: ByteBuffer, name: String): Plane = when {
            b.isDirect -> Plane(b, null, b.position(), b.remaining())
            b.hasArray() -> Plane(null, b.array(), b.arrayOffset() + b.position(), b.remaining())
            else -> throw FacekdException(Status.INVALID_ARGUMENT, "$name: a read-only heap ByteBuffer cannot be read in place")
        }
    }
}

/**
 * A non-owning view of an image: packed pixels (RGB/BGR/RGBA/BGRA/gray) or bi-planar YUV 4:2:0
 * (NV12/NV21) with its own chroma plane and row stride. Direct buffers (e.g. CameraX
 * `ImageProxy` planes) are read in place, without conversion or copies.
 */
class PixelImage private constructor(
    val width: Int,
    val height: Int,
    /** Bytes between rows of the first plane. */
    val rowStride: Int,
    val format: PixelFormat,
    internal val plane: Plane,
    internal val chroma: Plane?,
    internal val chromaPartner: ByteBuffer?,
    /** Bytes between chroma rows (NV12/NV21). */
    val chromaRowStride: Int,
) {
    companion object {
        /** Packed pixels (not NV12/NV21); the buffer's position..limit holds the image. */
        fun packed(data: ByteBuffer, width: Int, height: Int, rowStride: Int, format: PixelFormat): PixelImage {
            requireArg(!format.isBiPlanar) { "$format is bi-planar: use biPlanar() or yuv420()" }
            val plane = Plane.of(data, "data")
            checkPlane(plane.length, height, width * format.bytesPerPixel, rowStride, "data", width, height)
            return PixelImage(width, height, rowStride, format, plane, null, null, 0)
        }

        /** Packed pixels from a byte array (rows of [rowStride] bytes from index 0). */
        fun packed(data: ByteArray, width: Int, height: Int, rowStride: Int, format: PixelFormat) =
            packed(ByteBuffer.wrap(data), width, height, rowStride, format)

        /**
         * Bi-planar YUV 4:2:0: the Y plane and the interleaved chroma plane (ceil(h/2) rows of
         * ceil(w/2) pairs: U,V for NV12, V,U for NV21), each with its own row stride.
         */
        fun biPlanar(
            luma: ByteBuffer, lumaRowStride: Int, chroma: ByteBuffer, chromaRowStride: Int,
            width: Int, height: Int, format: PixelFormat,
        ): PixelImage {
            requireArg(format.isBiPlanar) { "$format is not bi-planar: use packed()" }
            val y = Plane.of(luma, "luma")
            val uv = Plane.of(chroma, "chroma")
            checkPlane(y.length, height, width, lumaRowStride, "luma", width, height)
            checkPlane(uv.length, (height + 1) / 2, 2 * ((width + 1) / 2), chromaRowStride, "chroma", width, height)
            return PixelImage(width, height, lumaRowStride, format, y, uv, null, chromaRowStride)
        }

        /** A contiguous NV21 frame (Y rows of [width] bytes, then V,U rows), e.g. the legacy camera API's. */
        fun nv21(data: ByteArray, width: Int, height: Int): PixelImage {
            requireArg(width > 0 && height > 0) { "image size must be positive, got ${width}x$height" }
            val ySize = width.toLong() * height
            requireArg(data.size >= ySize) { "data has ${data.size} bytes, the Y plane needs $ySize" }
            val chroma = ByteBuffer.wrap(data, ySize.toInt(), data.size - ySize.toInt())
            return biPlanar(ByteBuffer.wrap(data, 0, ySize.toInt()), width, chroma, 2 * ((width + 1) / 2),
                width, height, PixelFormat.NV21)
        }

        /**
         * An Android `YUV_420_888` image (e.g. CameraX `ImageProxy.planes`) read in place: the
         * semi-planar layouts cameras deliver (chroma pixel stride 2, U and V buffers one byte apart)
         * map to NV12 or NV21 without conversion, honouring the row and pixel strides. Planar chroma
         * (pixel stride 1) is rejected with an error.
         */
        fun yuv420(
            width: Int, height: Int,
            y: ByteBuffer, yRowStride: Int, yPixelStride: Int,
            u: ByteBuffer, v: ByteBuffer, uvRowStride: Int, uvPixelStride: Int,
        ): PixelImage {
            requireArg(yPixelStride == 1) { "Y pixel stride must be 1, got $yPixelStride" }
            requireArg(y.isDirect && u.isDirect && v.isDirect) { "YUV_420_888 planes must be direct ByteBuffers" }
            requireArg(uvPixelStride == 2) {
                "chroma pixel stride $uvPixelStride: only semi-planar YUV_420_888 (pixel stride 2) is read in place"
            }
            val us = u.slice()
            val vs = v.slice()
            val (format, chroma, partner) = when (NativeBridge.chromaOrder(us, vs)) {
                1 -> Triple(PixelFormat.NV12, us, vs)
                -1 -> Triple(PixelFormat.NV21, vs, us)
                else -> throw FacekdException(Status.INVALID_ARGUMENT,
                    "U and V planes do not interleave (buffers not 1 byte apart): not a semi-planar image")
            }
            val yPlane = Plane.of(y.slice(), "Y plane")
            checkPlane(yPlane.length, height, width, yRowStride, "Y plane", width, height)
            // The first chroma buffer ends one byte short of its last pair; its partner covers that byte.
            val span = maxOf(chroma.remaining(), partner.remaining() + 1)
            checkPlane(span, (height + 1) / 2, 2 * ((width + 1) / 2), uvRowStride, "chroma planes", width, height)
            return PixelImage(width, height, yRowStride, format, yPlane, Plane.of(chroma, "chroma"), partner, uvRowStride)
        }

        private fun checkPlane(available: Int, rows: Int, rowBytes: Int, stride: Int, name: String, width: Int, height: Int) {
            requireArg(width > 0 && height > 0) { "image size must be positive, got ${width}x$height" }
            requireArg(stride >= rowBytes) { "$name stride $stride is smaller than a row ($rowBytes bytes)" }
            val needed = stride.toLong() * (rows - 1) + rowBytes
            requireArg(available >= needed) { "$name has $available bytes, $rows rows of stride $stride need $needed" }
        }
    }
}
