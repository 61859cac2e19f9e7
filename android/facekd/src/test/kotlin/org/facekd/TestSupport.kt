package org.facekd

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail

/** Asserts that [body] throws a [FacekdException] with [status] whose detail contains [fragment]. */
fun assertFacekdError(status: Status, fragment: String, body: () -> Unit) {
    try {
        body()
    } catch (e: FacekdException) {
        assertEquals("detail: ${e.detail}", status, e.status)
        assertTrue("'${e.detail}' does not contain '$fragment'", e.detail.contains(fragment))
        assertTrue("message carries the status: ${e.message}", e.message!!.startsWith(status.name))
        return
    }
    fail("expected $status error containing '$fragment'")
}

/** A model card JSON for a custom K-point scheme (eye corners 0 and 1), as `facekd export` writes it. */
fun cardJson(
    keypoints: Int = 5, inputSize: Int = 64, heatmapSize: Int = 16, sigma: Double = 1.5, decode: String = "dark",
    cropScale: Double = 1.25, extra: Map<String, String> = emptyMap(),
): String {
    val perm = (0 until keypoints).reversed().joinToString(",")
    val fields = linkedMapOf(
        "model" to "\"synthetic\"", "arch" to "\"test\"", "config" to "{\"num_keypoints\": $keypoints}",
        "num_keypoints" to "$keypoints", "input_size" to "$inputSize", "output_type" to "\"heatmap\"",
        "scheme" to "{\"name\": \"custom$keypoints\", \"num_points\": $keypoints, \"flip_perm\": [$perm], " +
            "\"eye_corners\": [0, 1], \"pupils\": null, \"groups\": {}, \"names\": null, \"description\": \"\"}",
        "codec" to "{\"type\": \"heatmap\", \"input_size\": $inputSize, \"heatmap_size\": $heatmapSize, " +
            "\"sigma\": $sigma, \"decode\": \"$decode\", \"beta\": 1.0}",
        "crop_scale" to "$cropScale", "mean" to "[0.485, 0.456, 0.406]", "std" to "[0.229, 0.224, 0.225]",
        "pixel_format" to "\"RGB\"", "facekd_version" to "\"0.1.0\"", "training_data" to "\"\"", "metrics" to "{}",
        "format" to "1", "flip_perm" to "[$perm]",
    )
    fields.putAll(extra)
    return fields.entries.joinToString(",\n", "{\n", "\n}") { "\"${it.key}\": ${it.value}" }
}
