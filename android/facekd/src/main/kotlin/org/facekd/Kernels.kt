package org.facekd

/** Decoded heatmaps: [points] (x, y) interleaved in heatmap pixels (2*n*k) and peak [scores] (n*k). */
class DecodedHeatmaps(val points: FloatArray, val scores: FloatArray)

/** A normalised crop: [tensor] is [channels, size, size] (CHW) from [offset]; [cropToImage] maps crop pixels to the image. */
class Crop(val tensor: FloatArray, val offset: Int, val size: Int, val channels: Int, val cropToImage: Affine)

/** A landmark box and the roll (degrees) of the eye-corner line. */
data class BoxAndRoll(val box: FaceBox, val rollDegrees: Float)

/**
 * The facekd kernel set over the one C API. Points are FloatArrays of interleaved (x, y), the
 * layout `Canvas.drawPoints` takes. Failures throw [FacekdException] with the C status and message.
 */
object Kernels {
    /** Decodes heatmaps [n, k, height, width] (row-major, from [offset]) into heatmap-pixel points. */
    fun decodeHeatmaps(
        heatmaps: FloatArray, n: Int, k: Int, height: Int, width: Int,
        params: DecodeParams = DecodeParams.DEFAULT, offset: Int = 0,
    ): DecodedHeatmaps {
        for ((name, v) in listOf("n" to n, "k" to k, "height" to height, "width" to width)) {
            requireArg(v > 0) { "$name must be positive, got $v" }
        }
        val count = n.toLong() * k * height * width
        requireArg(offset >= 0 && heatmaps.size - offset.toLong() == count) {
            "heatmaps has ${heatmaps.size - offset} values from offset $offset, n*k*h*w = $n*$k*$height*$width"
        }
        val coords = FloatArray(2 * n * k)
        val scores = FloatArray(n * k)
        NativeBridge.decodeHeatmaps(heatmaps, offset, n, k, height, width, params.mode.code, params.blurSigma,
            params.beta, coords, scores)
        return DecodedHeatmaps(coords, scores)
    }

    /** The crop-to-image affine for a face box (`fk_box_to_affine`). */
    fun boxToAffine(box: FaceBox, scale: Float, rotationDegrees: Float = 0f, flip: Boolean = false, outSize: Int): Affine {
        val out = FloatArray(6)
        NativeBridge.boxToAffine(box.toArray(), scale, rotationDegrees, flip, outSize, out)
        return Affine(out)
    }

    /**
     * Crops a face box (`fk_crop_box`: positive size, overlapping the image). Writes into [out] from
     * [outOffset] when given (e.g. a model's reusable input array), else into a new array.
     */
    fun cropBox(
        image: PixelImage, box: FaceBox, scale: Float, rotationDegrees: Float = 0f, flip: Boolean = false,
        params: CropParams = CropParams.DEFAULT, out: FloatArray? = null, outOffset: Int = 0,
    ): Crop {
        val affine = FloatArray(6)
        val dst = output(params, out, outOffset)
        run(image, box.toArray(), scale, rotationDegrees, flip, affine, params, dst, outOffset)
        return Crop(dst, outOffset, params.outSize, params.channels, Affine(affine))
    }

    /** Samples a crop through [cropToImage] (`fk_crop_affine`). */
    fun cropAffine(
        image: PixelImage, cropToImage: Affine, params: CropParams = CropParams.DEFAULT,
        out: FloatArray? = null, outOffset: Int = 0,
    ): Crop {
        val dst = output(params, out, outOffset)
        run(image, null, 0f, 0f, false, cropToImage.values, params, dst, outOffset)
        return Crop(dst, outOffset, params.outSize, params.channels, cropToImage)
    }

    private fun output(params: CropParams, out: FloatArray?, outOffset: Int): FloatArray {
        requireArg(params.outSize > 0) { "outSize must be positive, got ${params.outSize}" }
        requireArg(params.channels == 1 || params.channels == 3) { "channels must be 1 or 3, got ${params.channels}" }
        if (out == null) return FloatArray(params.outputLength)
        requireArg(outOffset >= 0 && out.size - outOffset.toLong() >= params.outputLength) {
            "output array has ${out.size - outOffset} floats from offset $outOffset, the crop needs ${params.outputLength}"
        }
        return out
    }

    private fun run(
        image: PixelImage, box: FloatArray?, scale: Float, rotation: Float, flip: Boolean, affine: FloatArray,
        params: CropParams, out: FloatArray, outOffset: Int,
    ) {
        val p = image.plane
        val c = image.chroma
        NativeBridge.crop(
            p.buffer, p.array, p.offset, p.length, image.width, image.height, image.rowStride, image.format.code,
            c?.buffer, c?.array, c?.offset ?: 0, c?.length ?: 0, image.chromaPartner, image.chromaRowStride,
            box, scale, rotation, flip, affine,
            params.outSize, params.channels, params.meanArray(), params.stdArray(), params.borderValue, out, outOffset,
        )
    }

    /** Applies an affine to interleaved points (`fk_points_transform`). */
    fun transform(points: FloatArray, affine: Affine): FloatArray {
        requireArg(points.size % 2 == 0) { "points must hold (x, y) pairs, got ${points.size} values" }
        val out = FloatArray(points.size)
        NativeBridge.pointsTransform(points, points.size / 2, affine.values, out)
        return out
    }

    /** Heatmap pixels -> crop pixels -> image coordinates (`fk_heatmap_to_image`), no rounding. */
    fun heatmapToImage(
        points: FloatArray, heatmapWidth: Int, heatmapHeight: Int, inputWidth: Int, inputHeight: Int,
        cropToImage: Affine,
    ): FloatArray {
        requireArg(points.size % 2 == 0) { "points must hold (x, y) pairs, got ${points.size} values" }
        val out = FloatArray(points.size)
        NativeBridge.heatmapToImage(points, points.size / 2, heatmapWidth, heatmapHeight, inputWidth, inputHeight,
            cropToImage.values, out)
        return out
    }

    /** Tight box of the landmarks and the eye-corner roll (`fk_box_from_landmarks`); no corners -> roll 0. */
    fun boxFromLandmarks(points: FloatArray, eyeCorners: Pair<Int, Int>? = null): BoxAndRoll {
        requireArg(points.size % 2 == 0) { "points must hold (x, y) pairs, got ${points.size} values" }
        val n = points.size / 2
        if (eyeCorners != null) {
            requireArg(eyeCorners.first in 0 until n && eyeCorners.second in 0 until n) {
                "eye corner indices $eyeCorners out of range for $n points"
            }
        }
        val box = FloatArray(4)
        val roll = FloatArray(1)
        NativeBridge.boxFromLandmarks(points, n, eyeCorners?.first ?: -1, eyeCorners?.second ?: -1, box, roll)
        return BoxAndRoll(FaceBox(box[0], box[1], box[2], box[3]), roll[0])
    }
}
