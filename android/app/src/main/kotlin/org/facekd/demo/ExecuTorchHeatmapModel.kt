package org.facekd.demo

import org.facekd.HeatmapModel
import org.facekd.Heatmaps
import org.facekd.ModelCard
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import java.io.File

/**
 * A `.pte` from `facekd export --to pte` on the ExecuTorch Android runtime: input [1, 3, S, S]
 * float32, output heatmaps [1, K, h, w]. The card comes from the sidecar `<name>.json`, else from
 * the program's `get_model_card` method (UTF-8 bytes as a uint8 tensor).
 */
class ExecuTorchHeatmapModel(pte: File) : HeatmapModel, AutoCloseable {
    private val module: Module = Module.load(pte.absolutePath)
    val card: ModelCard = readCard(pte)
    private val shape = longArrayOf(1, 3, card.inputSize.toLong(), card.inputSize.toLong())

    private fun readCard(pte: File): ModelCard {
        val sidecar = File(pte.parentFile, pte.nameWithoutExtension + ".json")
        if (sidecar.isFile) return ModelCard.read(sidecar)
        val bytes = module.execute("get_model_card")[0].toTensor().dataAsUnsignedByteArray
        return ModelCard.fromJson(String(bytes, Charsets.UTF_8))
    }

    override fun predict(input: FloatArray, size: Int): Heatmaps {
        val out = module.forward(EValue.from(Tensor.fromBlob(input, shape)))[0].toTensor()
        val s = out.shape()
        require(s.size == 4) { "model output must be [1, K, h, w], got ${s.contentToString()}" }
        return Heatmaps(out.dataAsFloatArray, s[1].toInt(), s[2].toInt(), s[3].toInt())
    }

    override fun close() = module.destroy()
}
