package org.facekd

import java.io.File
import java.io.IOException

/**
 * The model card written by `facekd export` (`<model>.json` beside the `.pte`, or embedded in it).
 * Parsed by the C library (`fk_card_info`, the one card parser of every binding); this class keeps
 * the JSON for [FaceLandmarker] and exposes what a caller needs to feed the model.
 */
class ModelCard private constructor(val json: String, ints: IntArray, floats: FloatArray) {
    val numKeypoints: Int = ints[0]

    /** Side of the square model input (crop) in pixels. */
    val inputSize: Int = ints[1]

    /** "heatmap" ([K, h, h] per crop) or "coords" ([K, 2] per crop, (u + 0.5) / S). */
    val outputType: String = if (ints[2] == 0) "heatmap" else "coords"

    /** Heatmap side (0 for coordinate models). */
    val heatmapSize: Int = ints[3]

    /** Floats the model returns per crop. */
    val outputLength: Int = ints[4]

    /** (image-left, image-right) eye-corner indices of the scheme: the roll of a face. */
    val eyeCorners: Pair<Int, Int> = ints[5] to ints[6]
    val cropScale: Float = floats[0]
    val mean: List<Float> = floats.slice(1..3)
    val std: List<Float> = floats.slice(4..6)

    /** Crop parameters for this model's input. */
    val cropParams: CropParams get() = CropParams(inputSize, 3, mean, std, 0f)

    companion object {
        /** Parses and validates a card; errors name the offending field. */
        fun fromJson(json: String): ModelCard {
            val ints = IntArray(7)
            val floats = FloatArray(7)
            NativeBridge.cardInfo(json, ints, floats)
            return ModelCard(json, ints, floats)
        }

        /** Reads a card file (`<model>.json`). */
        fun read(file: File): ModelCard {
            val text = try {
                file.readText(Charsets.UTF_8)
            } catch (e: IOException) {
                throw FacekdException(Status.INVALID_ARGUMENT, "cannot read model card ${file.path}: ${e.message}")
            }
            return fromJson(text)
        }
    }
}
