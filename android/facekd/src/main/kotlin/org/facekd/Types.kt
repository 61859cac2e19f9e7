package org.facekd

import kotlin.math.cos
import kotlin.math.sin

/**
 * A face box (x, y, width, height) in facekd's continuous pixel coordinates (the centre of
 * pixel i is at i); its centre is (x + w/2, y + h/2).
 */
data class FaceBox(val x: Float, val y: Float, val width: Float, val height: Float) {
    val centerX: Float get() = x + width / 2
    val centerY: Float get() = y + height / 2

    internal fun toArray() = floatArrayOf(x, y, width, height)

    companion object {
        fun fromCenter(cx: Float, cy: Float, width: Float, height: Float) =
            FaceBox(cx - width / 2, cy - height / 2, width, height)
    }
}

/** A 2x3 affine [a b c; d e f] (row-major): x' = a*x + b*y + c, y' = d*x + e*y + f. */
class Affine(values: FloatArray) {
    private val v: FloatArray = values.copyOf()

    init {
        requireArg(values.size == 6) { "affine needs 6 values, got ${values.size}" }
    }

    /** The 6 row-major values (a copy). */
    val values: FloatArray get() = v.copyOf()

    operator fun get(i: Int): Float = v[i]

    /** Maps one point (plain Kotlin arithmetic). */
    fun mapX(x: Float, y: Float) = v[0] * x + v[1] * y + v[2]
    fun mapY(x: Float, y: Float) = v[3] * x + v[4] * y + v[5]

    /** The inverse (`fk_affine_invert`); throws for a singular affine. */
    fun inverted(): Affine {
        val out = FloatArray(6)
        NativeBridge.affineInvert(v, out)
        return Affine(out)
    }

    override fun equals(other: Any?) = other is Affine && v.contentEquals(other.v)
    override fun hashCode() = v.contentHashCode()
    override fun toString() = "Affine(${v.joinToString()})"

    companion object {
        val IDENTITY = Affine(floatArrayOf(1f, 0f, 0f, 0f, 1f, 0f))

        /** Rotation by [degrees] (from the x axis toward the y axis) about (cx, cy). */
        fun rotation(degrees: Float, cx: Float, cy: Float): Affine {
            val r = Math.toRadians(degrees.toDouble())
            val c = cos(r).toFloat()
            val s = sin(r).toFloat()
            return Affine(floatArrayOf(c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy))
        }
    }
}

/** Heatmap decoding method (`fk_decode_mode`). */
enum class DecodeMode(val code: Int) {
    ARGMAX(0), DARK(1), SOFTARGMAX(2);

    companion object {
        /** A codec's mode name: "argmax", "dark", "softargmax" (case-insensitive). */
        fun fromName(name: String): DecodeMode = when (name.lowercase()) {
            "argmax" -> ARGMAX
            "dark" -> DARK
            "softargmax", "soft_argmax", "soft-argmax" -> SOFTARGMAX
            else -> throw FacekdException(Status.INVALID_ARGUMENT, "unknown decode mode '$name' (argmax, dark, softargmax)")
        }

        internal fun fromCode(code: Int) = entries.first { it.code == code }
    }
}

/** Parameters of heatmap decoding (`fk_decode_params`): DARK blur sigma, SOFTARGMAX beta. */
data class DecodeParams(val mode: DecodeMode, val blurSigma: Float, val beta: Float) {
    companion object {
        /** The C library's defaults. */
        val DEFAULT: DecodeParams by lazy {
            val v = FloatArray(3).also { NativeBridge.decodeParamsDefault(it) }
            DecodeParams(DecodeMode.fromCode(v[0].toInt()), v[1], v[2])
        }
    }
}

/** Pixel layouts accepted by the crop kernel (`fk_pixel_format`). */
enum class PixelFormat(val code: Int, val bytesPerPixel: Int) {
    RGB8(0, 3), BGR8(1, 3), RGBA8(2, 4), BGRA8(3, 4), GRAY8(4, 1),
    /** Bi-planar YUV 4:2:0, chroma U,V interleaved. */
    NV12(5, 1),
    /** Bi-planar YUV 4:2:0, chroma V,U interleaved (Android camera default). */
    NV21(6, 1);

    val isBiPlanar: Boolean get() = this == NV12 || this == NV21
}

/**
 * Parameters of the crop kernel (`fk_crop_params`): output [channels, outSize, outSize] with
 * `(v / 255 - mean[c]) / std[c]`; 1 channel uses element 0; [borderValue] in 0..255 pixel units.
 */
data class CropParams(
    val outSize: Int,
    val channels: Int = 3,
    val mean: List<Float>,
    val std: List<Float>,
    val borderValue: Float = 0f,
) {
    val outputLength: Int get() = channels * outSize * outSize

    internal fun meanArray() = padded(mean, "mean")
    internal fun stdArray() = padded(std, "std")

    private fun padded(v: List<Float>, name: String): FloatArray {
        requireArg(v.size == 3 || (channels == 1 && v.size == 1)) { "$name has ${v.size} values for $channels channel(s)" }
        return FloatArray(3) { v[if (it < v.size) it else 0] }
    }

    companion object {
        /** The C library's defaults (256 px, 3 channels, ImageNet mean/std, border 0). */
        val DEFAULT: CropParams by lazy {
            val v = FloatArray(9).also { NativeBridge.cropParamsDefault(it) }
            CropParams(v[0].toInt(), v[1].toInt(), listOf(v[2], v[3], v[4]), listOf(v[5], v[6], v[7]), v[8])
        }
    }
}

/** One-Euro filter parameters (`fk_smoother_params`). */
data class SmootherParams(val minCutoff: Float, val beta: Float, val dCutoff: Float) {
    companion object {
        /** The C library's defaults. */
        val DEFAULT: SmootherParams by lazy {
            val v = FloatArray(3).also { NativeBridge.smootherParamsDefault(it) }
            SmootherParams(v[0], v[1], v[2])
        }
    }
}
