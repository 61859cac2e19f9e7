package org.facekd

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.nio.ByteBuffer
import kotlin.math.abs

/**
 * The Kotlin API (through JNI) against the golden vectors of tests/golden/ (written by
 * tests/golden/generate.py from the numpy reference), with the tolerances of tests/golden/README.md.
 */
class GoldenTest {
    /** |got - want| <= atol + rtol * |want| elementwise. */
    private fun assertClose(got: FloatArray, c: GoldenCase, key: String, atol: Float, rtol: Float = 0f) {
        val want = c.floats(key)
        assertEquals("${c.id}: $key size", want.size, got.size)
        val bad = want.indices.filter { !(abs(got[it] - want[it]) <= atol + rtol * abs(want[it])) }
        if (bad.isNotEmpty()) {
            val i = bad[0]
            fail("${c.id}: ${bad.size} values of $key off, e.g. [$i] = ${got[i]}, expected ${want[i]}")
        }
    }

    private fun expectedStatus(c: GoldenCase) = if (c.has("status")) Status.fromCode(c.int("status")) else Status.OK

    /** Runs [body]; checks that it fails with the case's status, or succeeds when none is given. */
    private fun run(c: GoldenCase, body: () -> Unit) {
        val expected = expectedStatus(c)
        try {
            body()
            assertEquals("${c.id}: expected $expected, got success", Status.OK, expected)
        } catch (e: FacekdException) {
            assertEquals("${c.id}: ${e.detail}", expected, e.status)
            assertFalse("${c.id}: error without message", e.detail.isEmpty())
        }
    }

    @Test
    fun decode() {
        val all = GoldenFile.read("decode.txt")
        assertTrue(all.size >= 6)
        for (c in all) {
            val shape = c.field("heatmaps").shape
            assertEquals(4, shape.size)
            val mode = DecodeMode.entries.firstOrNull { it.code == c.int("mode") }
            if (mode == null) {
                assertEquals(c.id, Status.INVALID_ARGUMENT, expectedStatus(c))
                continue
            }
            run(c) {
                val d = Kernels.decodeHeatmaps(c.floats("heatmaps"), shape[0], shape[1], shape[2], shape[3],
                    DecodeParams(mode, c.float("blur_sigma"), c.float("beta")))
                assertClose(d.points, c, "coords", if (mode == DecodeMode.ARGMAX) 0f else 1e-4f)
                assertClose(d.scores, c, "scores", 0f)
            }
        }
    }

    @Test
    fun crop() {
        val all = GoldenFile.read("crop.txt")
        assertTrue(all.size >= 14)
        val formats = mutableSetOf<PixelFormat>()
        for (c in all) {
            val format = PixelFormat.entries.firstOrNull { it.code == c.int("format") }
            if (format == null) {
                assertEquals(c.id, Status.INVALID_ARGUMENT, expectedStatus(c))
                continue
            }
            formats += format
            val width = c.int("width")
            val height = c.int("height")
            val stride = c.int("stride")
            val params = CropParams(c.int("out_size"), c.int("out_channels"), c.floats("mean").toList(),
                c.floats("std").toList(), c.float("border_value"))
            for (direct in listOf(false, true)) run(c) {
                val data = buffer(c.field("data").bytes, direct)
                val image = if (format.isBiPlanar) {
                    val uvStride = if (c.has("uv_stride") && c.int("uv_stride") != 0) c.int("uv_stride") else stride
                    val chroma = if (c.has("uv_data")) {
                        buffer(c.field("uv_data").bytes, direct)
                    } else {
                        // Without uv_data the chroma plane follows the Y plane (data + stride * height).
                        val split = minOf(stride * height, data.capacity())
                        (data.duplicate().position(split) as ByteBuffer).slice()
                    }
                    val luma = (data.duplicate().limit(minOf(stride * height, data.capacity())) as ByteBuffer).slice()
                    PixelImage.biPlanar(luma, stride, chroma, uvStride, width, height, format)
                } else {
                    PixelImage.packed(data, width, height, stride, format)
                }
                val crop = if (c.kernel == "crop_affine") {
                    Kernels.cropAffine(image, Affine(c.floats("crop_to_image")), params)
                } else {
                    assertEquals("crop_box", c.kernel)
                    val b = c.floats("box")
                    Kernels.cropBox(image, FaceBox(b[0], b[1], b[2], b[3]), c.float("scale"), c.float("rotation_deg"),
                        c.int("flip") != 0, params).also {
                        assertClose(it.cropToImage.values, c, "crop_to_image", 1e-4f, 1e-5f)
                    }
                }
                assertClose(crop.tensor, c, "out", 1e-4f)
            }
        }
        assertEquals("every pixel format has golden cases", PixelFormat.entries.toSet(), formats)
    }

    private fun buffer(bytes: ByteArray, direct: Boolean): ByteBuffer =
        if (direct) ByteBuffer.allocateDirect(bytes.size).put(bytes).also { it.rewind() } else ByteBuffer.wrap(bytes)

    @Test
    fun geometry() {
        val all = GoldenFile.read("geometry.txt")
        assertTrue(all.size >= 8)
        for (c in all) run(c) {
            when (c.kernel) {
                "box_to_affine" -> {
                    val b = c.floats("box")
                    val a = Kernels.boxToAffine(FaceBox(b[0], b[1], b[2], b[3]), c.float("scale"), c.float("rotation_deg"),
                        c.int("flip") != 0, c.int("out_size"))
                    assertClose(a.values, c, "crop_to_image", 1e-4f, 1e-5f)
                }
                "affine_invert" -> assertClose(Affine(c.floats("affine")).inverted().values, c, "inverse", 1e-5f, 1e-5f)
                "points_transform" ->
                    assertClose(Kernels.transform(c.floats("pts"), Affine(c.floats("affine"))), c, "out", 1e-4f, 1e-5f)
                "heatmap_to_image" -> {
                    val out = Kernels.heatmapToImage(c.floats("pts"), c.int("heatmap_w"), c.int("heatmap_h"),
                        c.int("input_w"), c.int("input_h"), Affine(c.floats("crop_to_image")))
                    assertClose(out, c, "out", 1e-4f, 1e-5f)
                }
                "box_from_landmarks" -> {
                    val l = c.int("left_idx")
                    val r = c.int("right_idx")
                    val (box, roll) = Kernels.boxFromLandmarks(c.floats("pts"), if (l < 0 || r < 0) null else l to r)
                    assertClose(floatArrayOf(box.x, box.y, box.width, box.height), c, "box", 1e-4f, 1e-5f)
                    assertClose(floatArrayOf(roll), c, "roll_deg", 1e-4f)
                }
                else -> fail("unknown geometry kernel ${c.kernel}")
            }
        }
    }

    @Test
    fun smoother() {
        val all = GoldenFile.read("smoother.txt")
        assertTrue(all.size >= 3)
        for (c in all) {
            val n = c.int("n_values")
            Smoother(n, SmootherParams(c.float("min_cutoff"), c.float("beta"), c.float("d_cutoff"))).use { s ->
                val ts = c.field("timestamps").values
                val values = c.floats("values")
                val reset = c.field("reset").values
                val out = FloatArray(values.size)
                for (t in ts.indices) {
                    if (reset[t] != 0.0) s.reset()
                    s.apply(values.copyOfRange(t * n, (t + 1) * n), ts[t]).copyInto(out, t * n)
                }
                assertClose(out, c, "out", 1e-5f, 1e-5f)
            }
        }
    }
}
