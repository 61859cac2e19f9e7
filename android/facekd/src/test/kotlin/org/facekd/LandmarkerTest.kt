package org.facekd

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import kotlin.math.cos
import kotlin.math.hypot
import kotlin.math.sin
import kotlin.random.Random

/**
 * The whole pipeline (crop -> model -> decode -> heatmap-to-image -> smoothing -> next box) with a
 * synthetic model that renders the true landmarks as Gaussians.
 */
class LandmarkerTest {
    private val width = 160
    private val height = 120

    /** A face-like K-point layout: eye corners 0 and 1, the rest spread below, rotated by [roll]. */
    private fun face(cx: Float, cy: Float, size: Float, roll: Float, k: Int): FloatArray {
        val base = mutableListOf(-0.35f to -0.2f, 0.35f to -0.2f)
        for (i in 2 until k) {
            val t = (i - 2).toFloat() / maxOf(k - 3, 1)
            base += (-0.3f + 0.6f * t) to (0.1f + 0.3f * sin(Math.PI.toFloat() * t))
        }
        val r = Math.toRadians(roll.toDouble())
        val c = cos(r).toFloat()
        val s = sin(r).toFloat()
        return base.flatMap { (x, y) -> listOf(cx + size * (x * c - y * s), cy + size * (x * s + y * c)) }.toFloatArray()
    }

    /** An NV21 frame as an Android camera delivers it, with padded strides. */
    private val frame: PixelImage by lazy {
        val lumaStride = width + 16
        val chromaStride = width + 32
        PixelImage.biPlanar(
            java.nio.ByteBuffer.allocateDirect(lumaStride * height).also { b -> repeat(b.capacity()) { b.put(90) }; b.rewind() },
            lumaStride,
            java.nio.ByteBuffer.allocateDirect(chromaStride * height / 2).also { b -> repeat(b.capacity()) { b.put(-128) }; b.rewind() },
            chromaStride, width, height, PixelFormat.NV21,
        )
    }

    @Test
    fun recoversLandmarksThroughRotatedCrop() {
        for (decode in listOf("dark", "argmax")) {
            val card = ModelCard.fromJson(cardJson(6, 64, 32, decode = decode))
            val truth = face(83.3f, 57.9f, 60f, 12f, 6)
            val model = SyntheticModel(card, truth)
            FaceLandmarker(card, model, smoothing = null).use { landmarker ->
                val region = TrackingBox(FaceBox(50f, 30f, 64f, 60f), 10f)
                model.cropToImage = Kernels.boxToAffine(region.box, card.cropScale, region.rollDegrees, outSize = card.inputSize)
                val result = landmarker.landmarks(frame, region)
                assertEquals(model.cropToImage, result.cropToImage)
                val pixel = maxOf(region.box.width, region.box.height) * card.cropScale / 32
                val err = maxDistance(result.points, truth)
                assertTrue("$decode: $err", err < (if (decode == "dark") 0.1f else 0.75f) * pixel)
                assertTrue(result.meanScore > 0.9f)
                assertEquals(12f, result.next.rollDegrees, 1.5f)
                assertTrue(result.timings.model > 0)
            }
        }
    }

    @Test
    fun trackingBoxIsUprightBoxOfRotatedFace() {
        val a = TrackingBox.fromLandmarks(face(70f, 60f, 50f, 0f, 9), 0 to 1)
        val b = TrackingBox.fromLandmarks(face(70f, 60f, 50f, 30f, 9), 0 to 1)
        assertEquals(0f, a.rollDegrees, 1e-3f)
        assertEquals(30f, b.rollDegrees, 1e-3f)
        assertEquals(a.box.width, b.box.width, 1e-3f)
        assertEquals(a.box.height, b.box.height, 1e-3f)
        val rot = Affine.rotation(30f, 70f, 60f)
        assertEquals(rot.mapX(a.box.centerX, a.box.centerY), b.box.centerX, 1e-3f)
        assertEquals(rot.mapY(a.box.centerX, a.box.centerY), b.box.centerY, 1e-3f)
    }

    @Test
    fun trackerDetectsOnceThenTracksAndRedetectsWhenLost() {
        val card = ModelCard.fromJson(cardJson(8, 64, 32))
        val model = SyntheticModel(card, FloatArray(0))
        val tracker = LandmarkTracker(FaceLandmarker(card, model, smoothing = null), minScore = 0.5f)
        var detections = 0
        val detectBox = FaceBox(45f, 25f, 70f, 70f)
        for (frameIndex in 0 until 6) {
            model.truth = face(80f + frameIndex, 60f, 55f, frameIndex * 2f, 8)
            model.amplitude = if (frameIndex == 3) 0.1f else 1f
            val region = tracker.region ?: TrackingBox(detectBox)
            model.cropToImage = Kernels.boxToAffine(region.box, card.cropScale, region.rollDegrees, outSize = card.inputSize)
            val out = tracker.process(frame, frameIndex / 30.0) { detections++; detectBox }
            assertNotNull(out)
            assertEquals("frame $frameIndex", frameIndex == 0 || frameIndex == 4, out!!.detected)
            if (frameIndex == 3) {
                assertNull("low scores drop the track", tracker.region)
            } else {
                assertNotNull(tracker.region)
                val err = maxDistance(out.result.points, model.truth)
                assertTrue("frame $frameIndex: $err", err < 0.25f)
            }
        }
        assertEquals(2, detections)
        assertEquals(30.0, tracker.fps.fps, 0.01)
        tracker.reset()
        assertNull(tracker.process(frame, 1.0) { null })
        assertEquals("no model run without a face", 6, model.calls)
        tracker.landmarker.close()
    }

    @Test
    fun smoothingReducesJitterOfStillFace() {
        val card = ModelCard.fromJson(cardJson(6, 64, 32))
        val still = face(80f, 60f, 50f, 0f, 6)
        val model = SyntheticModel(card, still)
        val region = TrackingBox(FaceBox(55f, 35f, 50f, 50f))
        model.cropToImage = Kernels.boxToAffine(region.box, card.cropScale, outSize = card.inputSize)
        val random = Random(7)
        fun jitterError(smoothing: SmootherParams?): Float = FaceLandmarker(card, model, smoothing).use { landmarker ->
            var total = 0f
            for (f in 0 until 60) {
                model.truth = FloatArray(still.size) { still[it] + random.nextFloat() * 2 - 1 }
                val r = landmarker.landmarks(frame, region, f / 30.0)
                if (f >= 20) total += (0 until still.size / 2).sumOf {
                    hypot(r.points[2 * it] - still[2 * it], r.points[2 * it + 1] - still[2 * it + 1]).toDouble()
                }.toFloat()
            }
            total
        }
        val raw = jitterError(null)
        val smoothed = jitterError(SmootherParams(0.5f, 0f, 1f))
        assertTrue("One-Euro at rest must cut the jitter: $smoothed vs $raw", smoothed < 0.6f * raw)
    }

    @Test
    fun checksModelOutputAgainstCard() {
        val card = ModelCard.fromJson(cardJson(5, 64, 16))
        val model = SyntheticModel(card, face(80f, 60f, 50f, 0f, 4))
        FaceLandmarker(card, model).use { landmarker ->
            assertFacekdError(Status.INVALID_ARGUMENT, "returned 4 heatmaps, the card says 5") {
                landmarker.landmarks(frame, TrackingBox(FaceBox(50f, 30f, 60f, 60f)))
            }
        }
        val coords = ModelCard.fromJson(cardJson(extra = mapOf("output_type" to "\"coords\"")))
        assertFacekdError(Status.INVALID_ARGUMENT, "needs a heatmap model") { FaceLandmarker(coords, model) }
    }

    @Test
    fun fpsMeter() {
        val m = FpsMeter(0.5)
        assertEquals(0.0, m.fps, 0.0)
        m.tick(0.0)
        m.tick(0.1)
        assertEquals(10.0, m.fps, 1e-9)
        m.tick(0.15)
        assertEquals(1 / 0.075, m.fps, 1e-9)
    }
}
