package org.facekd

import org.junit.Assert.assertEquals
import org.junit.Test

/** The card is parsed by the C library (fk_card_info); these check the binding and the messages. */
class ModelCardTest {
    @Test
    fun geometryComesFromTheCard() {
        val card = ModelCard.fromJson(cardJson(7, 96, 24, 2.0, "softargmax", 1.4))
        assertEquals(7, card.numKeypoints)
        assertEquals(96, card.inputSize)
        assertEquals(24, card.heatmapSize)
        assertEquals(7 * 24 * 24, card.outputLength)
        assertEquals("heatmap", card.outputType)
        assertEquals(1.4f, card.cropScale, 1e-6f)
        assertEquals(0 to 1, card.eyeCorners)
        assertEquals(0.456f, card.cropParams.mean[1], 1e-6f)
        val coords = ModelCard.fromJson(cardJson(extra = mapOf("output_type" to "\"coords\"")))
        assertEquals("coords", coords.outputType)
        assertEquals(10, coords.outputLength)
    }

    @Test
    fun errorsNameTheField() {
        assertFacekdError(Status.INVALID_ARGUMENT, "invalid JSON") { ModelCard.fromJson("{\"a\": ") }
        assertFacekdError(Status.INVALID_ARGUMENT, "'input_size' must be an integer") {
            ModelCard.fromJson(cardJson(extra = mapOf("input_size" to "\"big\"")))
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "eye_corners") {
            ModelCard.fromJson(cardJson(extra = mapOf("scheme" to """{"name": "x", "num_points": 5}""")))
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "newer") { ModelCard.fromJson(cardJson(extra = mapOf("format" to "9"))) }
    }
}
