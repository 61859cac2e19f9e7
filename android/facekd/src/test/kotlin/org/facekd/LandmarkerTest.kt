package org.facekd

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import kotlin.math.abs

/**
 * The Kotlin shell over fk_landmarker: the golden tracking sequence (tests/golden/sequence.txt)
 * replayed through JNI must give the recorded tracks to 1e-4 px, plus thin API checks.
 */
class LandmarkerTest {
    private class Replay(val c: GoldenCase, val card: ModelCard) : HeatmapModel {
        val calls = c.field("calls_n").values.map { it.toInt() }
        val outputs = c.floats("outputs")
        var face = 0
        var call = 0
        var inCall = 0

        override fun predict(input: FloatArray, size: Int): Heatmaps {
            check(size == card.inputSize && input.size == 3 * size * size)
            val per = card.outputLength
            val hm = Heatmaps(outputs, card.numKeypoints, card.heatmapSize, card.heatmapSize, face * per)
            face++
            inCall++
            if (inCall == calls[call]) {
                call++
                inCall = 0
            }
            return hm
        }
    }

    private fun near(what: String, got: FloatArray, want: FloatArray, offset: Int, frame: Int) {
        for (i in got.indices) {
            assertTrue("frame $frame $what[$i] = ${got[i]}, expected ${want[offset + i]}",
                abs(got[i] - want[offset + i]) <= 1e-4f)
        }
    }

    @Test
    fun goldenSequenceGivesTheRecordedTracks() {
        val c = GoldenFile.read("sequence.txt").single()
        val card = ModelCard.read(java.io.File(GoldenFile.directory, "sequence_card.json"))
        val model = Replay(c, card)
        val t = c.floats("transform")
        val options = LandmarkerOptions(
            BoxTransform(t[0], t[1], t[2], t[3]), c.float("recrop_degrees"), c.int("max_recrops"),
            c.float("loss_threshold"), c.float("min_face"),
            if (c.int("smooth") != 0) SmootherParams(c.float("min_cutoff"), c.float("beta"), c.float("d_cutoff")) else null,
        )
        val w = c.int("width")
        val h = c.int("height")
        val image = PixelImage.packed(c.field("data").bytes, w, h, c.int("stride"), PixelFormat.RGB8)
        val boxes = c.floats("det_boxes")
        val scores = c.floats("det_scores")
        val kpn = c.field("det_kpn").values.map { it.toInt() }
        val kps = c.floats("det_kps")
        val k = card.numKeypoints
        FaceLandmarker(card, model, options).use { lm ->
            var j = 0
            val ts = c.field("timestamps").values
            for (f in ts.indices) {
                val count = c.field("det_count").values[f].toInt()
                val dets = if (count < 0) null else List(count) {
                    val d = Detection(FaceBox(boxes[4 * j], boxes[4 * j + 1], boxes[4 * j + 2], boxes[4 * j + 3]), scores[j],
                        if (kpn[j] > 0) kps.copyOfRange(10 * j, 10 * j + 2 * kpn[j]) else null)
                    j++
                    d
                }
                val r = lm.process(image, dets, ts[f])
                assertEquals("frame $f count", c.field("count").values[f].toInt(), if (r.face == null) 0 else 1)
                assertEquals("frame $f detector_ran", c.field("detector_ran").values[f].toInt() != 0, r.detectorRan)
                assertEquals("frame $f lost", c.field("lost").values[f].toInt() != 0, r.lost)
                val face = r.face ?: continue
                near("landmarks", face.points, c.floats("landmarks"), 2 * k * f, f)
                near("raw_landmarks", face.rawPoints, c.floats("raw_landmarks"), 2 * k * f, f)
                near("box", floatArrayOf(face.box.x, face.box.y, face.box.width, face.box.height), c.floats("box"), 4 * f, f)
                near("rotation_deg", floatArrayOf(face.rollDegrees), c.floats("rotation_deg"), f, f)
                assertEquals(c.field("detection_index").values[f].toInt(), face.detectionIndex)
                assertEquals(c.field("passes").values[f].toInt(), face.passes)
            }
        }
        assertEquals("every recorded model call was made", model.calls.size, model.call)
    }

    @Test
    fun modelErrorsReachTheCaller() {
        val card = ModelCard.fromJson(cardJson(5, 64, 16))
        val image = PixelImage.packed(ByteArray(100 * 80 * 3), 100, 80, 300, PixelFormat.RGB8)
        val det = listOf(Detection(FaceBox(20f, 10f, 50f, 50f)))
        FaceLandmarker(card, { _, _ -> Heatmaps(FloatArray(5 * 8 * 8), 5, 8, 8) }).use { lm ->
            assertFacekdError(Status.INVALID_ARGUMENT, "the card says 5 of 16x16") { lm.process(image, det, 0.0) }
        }
        FaceLandmarker(card, { _, _ -> throw IllegalStateException("runtime down") }).use { lm ->
            try {
                lm.process(image, det, 0.0)
                fail("expected the model's exception")
            } catch (e: IllegalStateException) {
                assertEquals("runtime down", e.message)
            }
        }
    }

    @Test
    fun noDetectionNoFaceAndTimestampsMustIncrease() {
        val card = ModelCard.fromJson(cardJson(5, 64, 16))
        val image = PixelImage.packed(ByteArray(100 * 80 * 3), 100, 80, 300, PixelFormat.RGB8)
        FaceLandmarker(card, { _, _ -> Heatmaps(FloatArray(5 * 16 * 16) { 1f }, 5, 16, 16) }).use { lm ->
            val r = lm.process(image, null, 0.0)
            assertNull(r.face)
            assertFalse(r.detectorRan)
            val r2 = lm.process(image, listOf(Detection(FaceBox(20f, 10f, 50f, 50f))), 0.1)
            assertNotNull(r2.face)
            assertTrue(lm.tracking)
            assertFacekdError(Status.INVALID_ARGUMENT, "increasing") { lm.process(image, null, 0.1) }
            lm.reset()
            assertFalse(lm.tracking)
        }
        val closed = FaceLandmarker(card, { _, _ -> Heatmaps(FloatArray(0), 5, 16, 16) })
        closed.close()
        assertFacekdError(Status.INVALID_ARGUMENT, "closed") { closed.process(image, null, 0.0) }
    }
}
