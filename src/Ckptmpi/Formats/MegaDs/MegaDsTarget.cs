using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ckptmpi.Errors;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>One parameter of a pipeline stage as the DeepSpeed engine names it (<c>2.self_attention.dense.weight</c>), with its local shape.</summary>
internal sealed record EngineParam(string Name, int Layer, string Local, long[] Shape)
{
    /// <summary>Megatron puts matrices in the weight-decay group and vectors (norms) in the no-decay one.</summary>
    public bool Decays => Shape.Length >= 2;

    public long ElementCount => Tensors.DTypes.ElementCount(Shape);
}

/// <summary>
/// The GPTModelPipe a Megatron-DeepSpeed job builds from a HuggingFace Llama config for a TP x PP x DP topology: the
/// model with its padded vocabulary, and which pipeline stage holds which layer, as DeepSpeed's PipelineModule
/// partitions it ('type:transformer': the transformer layers balanced, the other layer specs where the balancing puts
/// them).
/// </summary>
internal sealed class MegaDsTarget
{
    private readonly int[] _parts;

    private MegaDsTarget(MegaDsModel model, int[] parts)
    {
        Model = model;
        _parts = parts;
    }

    public MegaDsModel Model { get; }

    /// <summary>The layer indices of pipeline stage <paramref name="stage"/>.</summary>
    public IEnumerable<int> StageLayers(int stage) => Enumerable.Range(_parts[stage], _parts[stage + 1] - _parts[stage]);

    /// <summary>The stage's parameters in <c>named_parameters()</c> order: the tied embedding module first (registered before the layers), then layer by layer.</summary>
    public IReadOnlyList<EngineParam> StageParams(int stage)
    {
        MegaDsModel m = Model;
        var list = new List<EngineParam>();
        var layers = StageLayers(stage).ToList();
        if (m.Tied && (layers.Contains(m.EmbedLayer) || layers.Contains(m.HeadLayer)))
            list.Add(new EngineParam(MegaDsLayout.TiedEmbedding, m.EmbedLayer, MegaDsLayout.WordEmbeddings, MegaDsLayout.Params(m, m.EmbedLayer)[0].Shape));
        foreach (int layer in layers)
        {
            if (!m.LayerFiles.Contains(layer) || (m.Tied && layer == m.EmbedLayer)) continue;
            foreach (var (local, shape) in MegaDsLayout.Params(m, layer))
                list.Add(new EngineParam($"{layer.ToString(CultureInfo.InvariantCulture)}.{local}", layer, local, shape));
        }
        return list;
    }

    /// <summary>The model of <paramref name="configPath"/>'s config.json, padded and partitioned for the topology.</summary>
    /// <exception cref="UnsupportedCheckpointException">a model this writer does not build, or a TP size that does not divide it (naming the sizes that would).</exception>
    public static MegaDsTarget For(string configPath, string configJson, int tp, int pp, int dp, int divisibleBy, MegaDsTie tie, long iteration)
    {
        JsonObject c;
        try { c = JsonNode.Parse(configJson) as JsonObject ?? throw new CheckpointFormatException(configPath, null, "config.json is not a JSON object"); }
        catch (JsonException e) { throw new CheckpointFormatException(configPath, null, $"config.json is not valid JSON: {e.Message}", inner: e); }
        int Int(string key, int? fallback = null) => c[key] is JsonValue v && v.TryGetValue(out int x) ? x
            : fallback ?? throw new CheckpointFormatException(configPath, null, $"config.json has no integer '{key}'");
        double Real(string key, double fallback) => c[key] is JsonValue v && v.TryGetValue(out double x) ? x : fallback;
        bool Flag(string key) => c[key] is JsonValue v && v.TryGetValue(out bool b) && b;
        string? type = c["model_type"]?.GetValue<string>();
        if (type is not ("llama" or "mistral" or null))
            throw new UnsupportedCheckpointException(configPath, $"model_type '{type}': --to megads writes Llama-style models (GPTModelPipe with SwiGLU, RMSNorm, rotary, no biases)");
        if (Flag("attention_bias") || Flag("mlp_bias"))
            throw new UnsupportedCheckpointException(configPath, "the model has linear biases; --to megads writes Llama-style models without them");
        if (c["hidden_act"] is JsonValue act && act.GetValue<string>() != "silu")
            throw new UnsupportedCheckpointException(configPath, $"hidden_act '{act}': GPTModelPipe's --swiglu is SiLU-gated");
        int heads = Int("num_attention_heads"), hidden = Int("hidden_size"), kv = Int("num_key_value_heads", heads), layers = Int("num_hidden_layers");
        int ffn = Int("intermediate_size"), vocab = Int("vocab_size"), headDim = Int("head_dim", hidden / heads);
        CheckTp(configPath, tp, heads, kv, ffn);
        if (pp > layers)
            throw new UnsupportedCheckpointException(configPath, $"--pp-size {pp} is more than the model's {layers} layers: every pipeline stage needs a transformer layer");
        bool tied = tie switch { MegaDsTie.Tied => true, MegaDsTie.Untied => false, _ => Flag("tie_word_embeddings") };
        long multiple = (long)divisibleBy * tp;
        long padded = (vocab + multiple - 1) / multiple * multiple;
        var model = new MegaDsModel
        {
            Layers = layers, Hidden = hidden, Ffn = ffn, Heads = heads, KvHeads = kv, HeadDim = headDim, Vocab = vocab,
            PaddedVocab = checked((int)padded), Tied = tied, Tp = tp, Pp = pp, Dp = dp, NormEps = Real("rms_norm_eps", 1e-5),
            MaxPositions = Int("max_position_embeddings", 4096), RopeTheta = Real("rope_theta", 10000), Iteration = iteration,
        };
        // GPTModelPipe's layer specs in bf16: the cast to bf16, the embedding, the layers, the final norm, the head (or the
        // tied embedding), the cast back to fp32; only the transformer layers weigh.
        var weights = new double[layers + 5];
        for (int i = 0; i < layers; i++) weights[model.TransformerLayer(i)] = 1;
        return new MegaDsTarget(model, PartitionBalanced(weights, pp));
    }

    /// <summary>Refuses a tensor-parallel size that does not split the heads, KV heads and FFN evenly, naming the sizes that would.</summary>
    private static void CheckTp(string configPath, int tp, int heads, int kv, int ffn)
    {
        if (heads % kv != 0) throw new UnsupportedCheckpointException(configPath, $"{heads} attention heads are not a multiple of {kv} KV heads");
        var wrong = new List<string>();
        if (heads % tp != 0) wrong.Add($"the {heads} attention heads");
        if (kv % tp != 0) wrong.Add($"the {kv} KV heads");
        if (ffn % tp != 0) wrong.Add($"the FFN size {ffn}");
        if (wrong.Count == 0) return;
        var would = Enumerable.Range(1, kv).Where(t => heads % t == 0 && kv % t == 0 && ffn % t == 0).ToList();
        throw new UnsupportedCheckpointException(configPath,
            $"--tp-size {tp} does not divide {string.Join(" and ", wrong)}: Megatron splits heads, KV heads and the FFN evenly over the tensor ranks; --tp-size {string.Join(", ", would)} would");
    }

    /// <summary>
    /// DeepSpeed's <c>partition_balanced</c> (runtime/utils.py, 0.14.4) to the letter, Python's float and max/min
    /// semantics included: a dynamic program over the linear partition of the layer weights, ties going to the later split.
    /// </summary>
    public static int[] PartitionBalanced(double[] weights, int parts)
    {
        int n = weights.Length, m = parts;
        if (n <= m) return Enumerable.Range(0, m + 1).Select(p => Math.Min(p, n)).ToArray();
        var dpMax = new double[n + 1, m + 1];
        var dpMin = new double[n + 1, m + 1];
        var dpCost = new double[n + 1, m + 1];
        var position = new int[n + 1, m + 1];
        for (int i = 0; i <= n; i++)
        for (int j = 0; j <= m; j++) dpMax[i, j] = dpMin[i, j] = dpCost[i, j] = double.PositiveInfinity;
        var prefix = new double[n + 1];
        for (int i = 0; i < n; i++) prefix[i + 1] = prefix[i] + weights[i];
        dpMax[0, 0] = 0;
        dpCost[0, 0] = 0;
        static double PyMax(double a, double b) => b > a ? b : a;
        static double PyMin(double a, double b) => b < a ? b : a;
        for (int i = 1; i <= n; i++)
        for (int j = 1; j <= Math.Min(i, m); j++)
        for (int k = 0; k < i; k++)
        {
            double sum = prefix[i] - prefix[k];
            double max = PyMax(dpMax[k, j - 1], sum), min = PyMin(dpMin[k, j - 1], sum), cost = max - min;
            if (dpCost[i, j] >= cost)
            {
                dpCost[i, j] = cost;
                dpMax[i, j] = max;
                dpMin[i, j] = min;
                position[i, j] = k;
            }
        }
        var result = new List<int> { n };
        for (int i = m; i >= 1; i--) result.Add(position[result[^1], i]);
        result.Reverse();
        return [.. result];
    }
}
