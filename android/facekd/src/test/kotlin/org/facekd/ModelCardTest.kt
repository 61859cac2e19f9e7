package org.facekd

import com.google.gson.JsonParser
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Test
import java.io.File

class ModelCardTest {
    @Test
    fun parsesGeometryFromCard() {
        val card = ModelCard.fromJson(cardJson(7, 96, 24, 2.0, "softargmax", 1.4))
        assertEquals(7, card.numKeypoints)
        assertEquals(96, card.inputSize)
        assertEquals(1.4f, card.cropScale, 1e-6f)
        assertEquals(listOf(6, 5, 4, 3, 2, 1, 0), card.scheme.flipPerm)
        assertEquals(0 to 1, card.scheme.eyeCorners)
        assertEquals(24, card.codec!!.heatmapWidth)
        assertEquals(DecodeParams(DecodeMode.SOFTARGMAX, 2.0f, 1.0f), card.decodeParams)
        assertEquals(96, card.cropParams.outSize)
        assertEquals(0.456f, card.cropParams.mean[1], 1e-6f)
    }

    @Test
    fun rectangularHeatmapSize() {
        val card = ModelCard.fromJson(cardJson(extra = mapOf("codec" to
            """{"input_size": 64, "heatmap_size": [12, 16], "sigma": 1.0, "decode": "argmax"}""")))
        val codec = card.codec!!
        assertEquals(12, codec.heatmapHeight)
        assertEquals(16, codec.heatmapWidth)
    }

    @Test
    fun errorsNameTheField() {
        assertFacekdError(Status.INVALID_ARGUMENT, "invalid model card JSON") { ModelCard.fromJson("{\"a\": ") }
        assertFacekdError(Status.INVALID_ARGUMENT, "'input_size' must be a number") {
            ModelCard.fromJson(cardJson(extra = mapOf("input_size" to "\"big\"")))
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "'scheme.eye_corners' is missing") {
            ModelCard.fromJson(cardJson(extra = mapOf("scheme" to """{"name": "x", "num_points": 5, "flip_perm": [0,1,2,3,4]}""")))
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "has 4 points, card says 5") {
            ModelCard.fromJson(cardJson(extra = mapOf("scheme" to
                """{"name": "x", "num_points": 4, "flip_perm": [0,1,2,3], "eye_corners": [0, 1]}""")))
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "unknown decode mode 'fancy'") { ModelCard.fromJson(cardJson(decode = "fancy")) }
        assertFacekdError(Status.INVALID_ARGUMENT, "std > 0") { ModelCard.fromJson(cardJson(extra = mapOf("std" to "[1, 0, 1]"))) }
        assertFacekdError(Status.INVALID_ARGUMENT, "newer than this reader") {
            ModelCard.fromJson(cardJson(extra = mapOf("format" to "99")))
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "needs a codec") { ModelCard.fromJson(cardJson(extra = mapOf("codec" to "{}"))) }
        assertFacekdError(Status.INVALID_ARGUMENT, "codec.input_size 32 differs") {
            ModelCard.fromJson(cardJson(extra = mapOf("codec" to """{"input_size": 32, "heatmap_size": 16, "sigma": 1.0}""")))
        }
        assertFacekdError(Status.INVALID_ARGUMENT, "not found") { ModelCard.read(File("/nonexistent/card.json")) }
    }

    /** A card written by the Python `facekd.card.ModelCard` (the iOS tests read the same fixture). */
    @Test
    fun readsPythonWrittenCard() {
        val file = File(GoldenFile.directory.parentFile.parentFile, "ios/Tests/FacekdTests/Fixtures/model_card.json")
        val raw = JsonParser.parseString(file.readText()).asJsonObject
        val card = ModelCard.read(file)
        assertEquals(raw["num_keypoints"].asInt, card.numKeypoints)
        assertEquals(raw["input_size"].asInt, card.inputSize)
        val scheme = raw["scheme"].asJsonObject
        assertEquals(scheme["flip_perm"].asJsonArray.map { it.asInt }, card.scheme.flipPerm)
        val corners = scheme["eye_corners"].asJsonArray.map { it.asInt }
        assertEquals(corners[0] to corners[1], card.scheme.eyeCorners)
        assertEquals(card.numKeypoints, card.scheme.flipPerm.size)
        assertNotNull(card.codec)
    }
}
