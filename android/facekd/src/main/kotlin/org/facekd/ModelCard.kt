package org.facekd

import com.google.gson.JsonElement
import com.google.gson.JsonObject
import com.google.gson.JsonParseException
import com.google.gson.JsonParser
import java.io.File
import java.io.IOException

/**
 * The model card written by `facekd export` (`<model>.json` beside the `.pte`): everything needed
 * to feed and decode the model. The geometry (input size, crop scale, eye corners, heatmap codec)
 * comes from here, never from constants.
 */
class ModelCard private constructor(
    val model: String,
    val numKeypoints: Int,
    /** Side of the square model input (crop) in pixels. */
    val inputSize: Int,
    /** "heatmap" ([N,K,h,w] outputs) or "coords". */
    val outputType: String,
    val codec: Codec?,
    /** The face box is enlarged by this factor before cropping. */
    val cropScale: Float,
    val mean: List<Float>,
    val std: List<Float>,
    val pixelFormat: String,
    val scheme: Scheme,
    val facekdVersion: String,
) {
    /** Landmark scheme of the outputs; [eyeCorners] = (image-left, image-right) outer eye corners. */
    data class Scheme(val name: String, val numPoints: Int, val flipPerm: List<Int>, val eyeCorners: Pair<Int, Int>)

    /** Heatmap codec (`HeatmapCodec.to_dict()`). */
    data class Codec(val heatmapWidth: Int, val heatmapHeight: Int, val sigma: Float, val decode: DecodeMode, val beta: Float)

    /** Crop parameters for this model's input. */
    val cropParams: CropParams get() = CropParams(inputSize, 3, mean, std, 0f)

    /** Decode parameters from the codec (library defaults without a codec). */
    val decodeParams: DecodeParams
        get() = codec?.let { DecodeParams(it.decode, it.sigma, it.beta) } ?: DecodeParams.DEFAULT

    companion object {
        /** Newest card format this reader understands. */
        const val SUPPORTED_FORMAT = 1

        /** Parses and validates a card; errors name the offending field. */
        fun fromJson(json: String): ModelCard {
            val root = try {
                JsonParser.parseString(json)
            } catch (e: JsonParseException) {
                throw FacekdException(Status.INVALID_ARGUMENT, "invalid model card JSON: ${e.message}")
            }
            if (!root.isJsonObject) throw FacekdException(Status.INVALID_ARGUMENT, "invalid model card: expected a JSON object")
            val r = Fields(root.asJsonObject, "")
            val format = r.int("format", 1)
            requireArg(format <= SUPPORTED_FORMAT) {
                "invalid model card: card format $format is newer than this reader ($SUPPORTED_FORMAT)"
            }
            val inputSize = r.int("input_size")
            val s = r.obj("scheme")
            val corners = s.ints("eye_corners")
            requireArg(corners.size == 2) { "invalid model card: scheme.eye_corners needs 2 indices, got ${corners.size}" }
            val scheme = Scheme(s.string("name"), s.int("num_points"), s.ints("flip_perm"), corners[0] to corners[1])
            val c = r.optObj("codec")
            val codec = if (c == null || c.isEmpty) null else {
                val type = c.string("type", "heatmap")
                requireArg(type == "heatmap") { "invalid model card: codec.type '$type' is not 'heatmap'" }
                val codecInput = c.int("input_size", inputSize)
                requireArg(codecInput == inputSize) {
                    "invalid model card: codec.input_size $codecInput differs from input_size $inputSize"
                }
                val (w, h) = c.size("heatmap_size")
                Codec(w, h, c.float("sigma"), DecodeMode.fromName(c.string("decode", "dark")), c.float("beta", 1f))
            }
            return ModelCard(
                model = r.string("model", ""),
                numKeypoints = r.int("num_keypoints"),
                inputSize = inputSize,
                outputType = r.string("output_type", "heatmap"),
                codec = codec,
                cropScale = r.float("crop_scale", 1.25f),
                mean = r.floats("mean"),
                std = r.floats("std"),
                pixelFormat = r.string("pixel_format", "RGB"),
                scheme = scheme,
                facekdVersion = r.string("facekd_version", ""),
            ).also { it.validate() }
        }

        /** Reads a card file (e.g. the `.json` beside a `.pte`). */
        fun read(file: File): ModelCard {
            val text = try {
                file.readText()
            } catch (e: IOException) {
                throw FacekdException(Status.INVALID_ARGUMENT, "model card not found or unreadable: ${file.path}")
            }
            return fromJson(text)
        }
    }

    private fun validate() {
        fun bad(msg: String): Nothing = throw FacekdException(Status.INVALID_ARGUMENT, "invalid model card: $msg")
        if (numKeypoints < 1) bad("num_keypoints must be >= 1, got $numKeypoints")
        if (scheme.numPoints != numKeypoints) bad("scheme '${scheme.name}' has ${scheme.numPoints} points, card says $numKeypoints")
        if (scheme.flipPerm.size != numKeypoints || scheme.flipPerm.any { it !in 0 until numKeypoints }) {
            bad("scheme.flip_perm must be a permutation of $numKeypoints indices")
        }
        val (l, r) = scheme.eyeCorners
        if (l !in 0 until numKeypoints || r !in 0 until numKeypoints || l == r) {
            bad("scheme.eye_corners ($l, $r) out of range for $numKeypoints points")
        }
        if (inputSize < 8) bad("input_size must be >= 8, got $inputSize")
        if (outputType != "heatmap" && outputType != "coords") bad("output_type must be 'heatmap' or 'coords', got '$outputType'")
        if (outputType == "heatmap" && codec == null) bad("a heatmap model needs a codec")
        codec?.let {
            if (it.heatmapWidth < 1 || it.heatmapHeight < 1) bad("codec.heatmap_size must be positive")
            if (!(it.sigma > 0f)) bad("codec.sigma must be > 0, got ${it.sigma}")
            if (!(it.beta > 0f)) bad("codec.beta must be > 0, got ${it.beta}")
        }
        if (mean.size != 3 || std.size != 3 || std.any { !(it > 0f) }) bad("mean/std must be 3 values with std > 0, got $mean / $std")
        if (pixelFormat != "RGB") bad("pixel_format must be 'RGB', got '$pixelFormat'")
        if (!(cropScale > 0f)) bad("crop_scale must be > 0, got $cropScale")
    }
}

/** Typed access to a JSON object with errors naming the field. */
private class Fields(private val o: JsonObject, private val path: String) {
    val isEmpty: Boolean get() = o.size() == 0

    private fun name(key: String) = if (path.isEmpty()) key else "$path.$key"
    private fun fail(key: String, what: String): Nothing =
        throw FacekdException(Status.INVALID_ARGUMENT, "invalid model card: field '${name(key)}' $what")

    private fun has(key: String) = o.has(key) && !o.get(key).isJsonNull
    private fun value(key: String): JsonElement = if (has(key)) o.get(key) else fail(key, "is missing")

    private fun number(e: JsonElement, key: String): Double =
        if (e.isJsonPrimitive && e.asJsonPrimitive.isNumber) e.asDouble else fail(key, "must be a number, got $e")

    private fun toInt(e: JsonElement, key: String): Int {
        val d = number(e, key)
        if (d != Math.rint(d) || d < Int.MIN_VALUE || d > Int.MAX_VALUE) fail(key, "must be an integer, got $d")
        return d.toInt()
    }

    fun string(key: String, default: String? = null): String {
        if (!has(key) && default != null) return default
        val e = value(key)
        return if (e.isJsonPrimitive && e.asJsonPrimitive.isString) e.asString else fail(key, "must be a string")
    }

    fun int(key: String, default: Int? = null): Int = if (!has(key) && default != null) default else toInt(value(key), key)

    fun float(key: String, default: Float? = null): Float =
        if (!has(key) && default != null) default else number(value(key), key).toFloat()

    fun floats(key: String): List<Float> {
        val e = value(key)
        if (!e.isJsonArray) fail(key, "must be a list of numbers")
        return e.asJsonArray.map { number(it, key).toFloat() }
    }

    fun ints(key: String): List<Int> {
        val e = value(key)
        if (!e.isJsonArray) fail(key, "must be a list of integers")
        return e.asJsonArray.map { toInt(it, key) }
    }

    /** An integer (square) or [height, width]; returns (width, height). */
    fun size(key: String): Pair<Int, Int> {
        val e = value(key)
        if (e.isJsonArray) {
            val a = e.asJsonArray
            if (a.size() != 2) fail(key, "must be an integer or [height, width]")
            return toInt(a[1], key) to toInt(a[0], key)
        }
        val s = toInt(e, key)
        return s to s
    }

    fun obj(key: String): Fields {
        val e = value(key)
        if (!e.isJsonObject) fail(key, "must be an object")
        return Fields(e.asJsonObject, name(key))
    }

    fun optObj(key: String): Fields? = if (has(key)) obj(key) else null
}
