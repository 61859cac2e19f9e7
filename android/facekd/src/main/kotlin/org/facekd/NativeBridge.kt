package org.facekd

import java.nio.ByteBuffer

/** The JNI functions of libfacekd_jni (facekd_jni.cpp); failures throw [FacekdException]. */
internal object NativeBridge {
    init {
        System.loadLibrary("facekd_jni")
    }

    @JvmStatic external fun version(): String
    @JvmStatic external fun statusName(status: Int): String
    @JvmStatic external fun decodeParamsDefault(out: FloatArray)
    @JvmStatic external fun cropParamsDefault(out: FloatArray)
    @JvmStatic external fun smootherParamsDefault(out: FloatArray)

    @JvmStatic external fun decodeHeatmaps(
        heatmaps: FloatArray, offset: Int, n: Int, k: Int, h: Int, w: Int,
        mode: Int, blurSigma: Float, beta: Float, coords: FloatArray, scores: FloatArray,
    )

    @JvmStatic external fun boxToAffine(
        box: FloatArray, scale: Float, rotationDeg: Float, flip: Boolean, outSize: Int, out: FloatArray,
    )

    @JvmStatic external fun crop(
        plane: ByteBuffer?, planeArray: ByteArray?, planeOffset: Int, planeLength: Int,
        width: Int, height: Int, stride: Int, format: Int,
        chroma: ByteBuffer?, chromaArray: ByteArray?, chromaOffset: Int, chromaLength: Int,
        chromaPartner: ByteBuffer?, chromaStride: Int,
        box: FloatArray?, scale: Float, rotationDeg: Float, flip: Boolean, affine: FloatArray,
        outSize: Int, channels: Int, mean: FloatArray, std: FloatArray, borderValue: Float,
        out: FloatArray, outOffset: Int,
    )

    @JvmStatic external fun chromaOrder(u: ByteBuffer, v: ByteBuffer): Int
    @JvmStatic external fun affineInvert(affine: FloatArray, out: FloatArray)
    @JvmStatic external fun pointsTransform(pts: FloatArray, n: Int, affine: FloatArray, out: FloatArray)

    @JvmStatic external fun heatmapToImage(
        pts: FloatArray, n: Int, heatmapW: Int, heatmapH: Int, inputW: Int, inputH: Int,
        affine: FloatArray, out: FloatArray,
    )

    @JvmStatic external fun boxFromLandmarks(
        pts: FloatArray, n: Int, left: Int, right: Int, box: FloatArray, roll: FloatArray,
    )

    @JvmStatic external fun smootherCreate(nValues: Int, minCutoff: Float, beta: Float, dCutoff: Float): Long
    @JvmStatic external fun smootherApply(handle: Long, nValues: Int, values: FloatArray, timestamp: Double, out: FloatArray)
    @JvmStatic external fun smootherReset(handle: Long)
    @JvmStatic external fun smootherDestroy(handle: Long)

    @JvmStatic external fun cardInfo(card: String, ints: IntArray, floats: FloatArray)
    @JvmStatic external fun landmarkerCreate(card: String, mode: Int, options: FloatArray, callback: Any): Long
    @JvmStatic external fun landmarkerInfo(handle: Long, ints: IntArray, floats: FloatArray)
    @JvmStatic external fun landmarkerReset(handle: Long)
    @JvmStatic external fun landmarkerDestroy(handle: Long)

    @JvmStatic external fun landmarkerProcess(
        handle: Long, plane: ByteBuffer?, planeArray: ByteArray?, planeOffset: Int, planeLength: Int,
        width: Int, height: Int, stride: Int, format: Int,
        chroma: ByteBuffer?, chromaArray: ByteArray?, chromaOffset: Int, chromaLength: Int,
        chromaPartner: ByteBuffer?, chromaStride: Int,
        detCount: Int, detBoxes: FloatArray, detScores: FloatArray, detKpn: IntArray, detKps: FloatArray,
        timestamp: Double, landmarks: FloatArray, raw: FloatArray, scores: FloatArray, face: FloatArray, ints: IntArray,
    )
}
