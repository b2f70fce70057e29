using System.Text.Json;
using Ckptmpi.Errors;
using Ckptmpi.Formats.DeepSpeed;
using Ckptmpi.Formats.Torch.Pickle;
using Ckptmpi.Tensors;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats.MegaDs;

/// <summary>
/// The Megatron-DeepSpeed checkpoint (GPTModelPipe, bf16, BF16_Optimizer or ZeRO-1) that a job with --tp-size, --pp-size and
/// --dp-size saves at --iteration after initialising from a HuggingFace Llama: layer files with the fused QKV and
/// SwiGLU shards, Megatron's model states with its args, the fp32 master partitions with empty Adam state, or, from a
/// trained source (another topology, a universal or ZeRO checkpoint), with its Adam moments, step, iteration and tag.
/// </summary>
internal sealed class MegaDsWriter : IFormatWriter
{
    public string Description => "Megatron-DeepSpeed GPTModelPipe checkpoint (layer files, model states with Megatron's args, BF16_Optimizer or ZeRO-1 partitions; 'latest' last)";

    public bool ConsumesEverything => true;

    /// <summary>A trained source's Adam moments, step, iteration and tag carry into the new partitions (<see cref="MegaDsResume"/>).</summary>
    public bool CarriesTrainingState => true;

    public IReadOnlyList<string> InputFiles(FormatOptions options)
    {
        var o = (MegaDsOptions)options;
        return [.. new[] { o.DsConfig, o.MegatronArgs }.OfType<string>()];
    }

    public TargetLayout Layout(WriteInput input, FormatOptions options)
    {
        var o = (MegaDsOptions)options;
        if (o.TpSize is not int tp || o.PpSize is not int pp || o.DpSize is not int dp)
            throw new FormatOptionException("--tp-size", "--to megads needs --tp-size, --pp-size and --dp-size");
        if (input.DType is DType d && d != DType.BF16)
            throw new FormatOptionException("--dtype", $"--to megads writes bf16 training checkpoints (BF16_Optimizer), not {d.TorchName()}");
        string configPath = Path.Combine(input.Catalog.Root, ModelConfigFile.FileName);
        string config = input.Facts.ModelConfigJson
            ?? throw new UnsupportedCheckpointException(input.Catalog.Root, "the source has no config.json: --to megads builds the model (and Megatron's args) from it");
        TrainingState? training = input.Facts.Training;
        bool trained = training is { StateTensors.Count: > 0 };
        // The weights; optimizer state rides on them (MegaDsResume) and is not a tensor of the model.
        SourceCatalog weights = input.Catalog;
        if (trained)
        {
            var state = training!.StateTensors.ToHashSet(StringComparer.Ordinal);
            weights = new SourceCatalog(weights.Root, weights.Tensors.Where(x => !state.Contains(x.Name)).ToList());
        }

        string? userArgs = o.MegatronArgs is string ap ? Text(input, ap, "--megatron-args") : null;
        PyDict? ds = DsConfigOf(input, o, userArgs);
        int stage = ZeroStage(o, ds);
        long iteration = (trained ? MegaDsResume.IterationOf(training!) : null) ?? o.Iteration ?? 0;
        MegaDsTarget target = MegaDsTarget.For(configPath, config, tp, pp, dp, o.VocabDivisibleBy, o.Tie, iteration);
        CheckCatalog(weights, target.Model);
        MegatronArgs args = MegatronArgs.Build(target, o.MegatronArgs, userArgs, ds, stage, o.VocabDivisibleBy);
        bool bf16Optimizer = Bf16Optimizer(args.DsConfig, stage, o.DsConfig ?? "the DeepSpeed config built from the Megatron args");
        CheckBatch(args, target.Model);
        CheckOptimizerClass(args);
        MegaDsResume? resume = trained
            ? MegaDsResume.From(training!, weights.Tensors.Select(x => x.Name).ToList(), input.Catalog, o.Iteration, o.Tag, args.Flag("ds_fused_adam"))
            : null;

        var notes = new List<string>();
        bool mean;
        if (resume is null) mean = MeanPadding(input, target.Model, o.VocabPadding, notes);
        else if (o.VocabPadding == MegaDsVocabPadding.Mean)
            throw new FormatOptionException("--vocab-padding", "--vocab-padding mean: a trained source's padded vocabulary rows are written as zeros in the weights, the masters and both moments (as a universal checkpoint load leaves them); drop --vocab-padding mean");
        else mean = false;
        string tag = resume?.Tag ?? o.Tag ?? DeepSpeedPaths.DefaultTag(iteration);
        var megads = new MegaDsFiles(target, args, tag, mean, bf16Optimizer, resume);
        var files = megads.All(optimizerFiles: true);
        // config.json (and the source's side files: tokenizer, generation config) beside 'latest', as --to zero keeps
        // it, so that --from megads gives back the HF config rather than one rebuilt from args.
        var facts = input.Facts with { ModelConfigJson = WithTie(config, target.Model.Tied) };
        OutputLayout layout = ModelConfigFile.AppendTo(new OutputLayout(files), facts);
        layout.Validate();
        if (training is not null && resume is null)
            notes.Add($"not carried into the megads target: {training.Description} (the source holds no Adam state yet); the output starts with empty Adam moments (the fp32 master weights are carried)");
        if (resume is not null && target.Model.PaddedVocab > target.Model.Vocab)
            notes.Add($"the {target.Model.PaddedVocab - target.Model.Vocab} padded vocabulary rows start at zero in the weights, the fp32 masters and both Adam moments, as a universal checkpoint load leaves them (the source's padded rows are not part of its HF tensors)");
        Serilog.Log.Information("megads target: {Model}; ZeRO stage {Stage} with {Optimizer}, tag {Tag}{Resume}", target.Model, stage, bf16Optimizer ? "BF16_Optimizer" : "DeepSpeed's ZeRO-1 optimizer", tag,
                                resume is null ? "" : $"; carrying the source's fp32 masters, Adam moments and step at iteration {resume.Iteration}");
        var redundant = resume is null ? [] : resume.Redundant(Enumerable.Range(0, target.Model.Pp).SelectMany(megads.StepSources));
        return new TargetLayout(layout, notes) { Redundant = redundant };
    }

    /// <summary>The most one pass can hold when the plan's chunk size is not known: the chunk of the largest --max-buffer.</summary>
    private const long LargestChunk = 1L << 30;

    /// <summary>Room the planner's staging alignment may take beyond the record's own bytes.</summary>
    private const long Slack = 64 << 10;

    /// <summary>
    /// Whether the padded rows get the real rows' mean: that record reads the whole vocabulary tensor in one chunk (fp32
    /// scratch plus the stored bytes, plus the rows written), which the buffer may not hold; auto then writes zeros and
    /// says so before the job starts.
    /// </summary>
    private static bool MeanPadding(WriteInput input, MegaDsModel m, MegaDsVocabPadding choice, List<string> notes)
    {
        if (choice == MegaDsVocabPadding.Zero || m.PaddedVocab == m.Vocab) return choice != MegaDsVocabPadding.Zero;
        SourceTensor embed = input.Catalog[ShardSplit.HfEmbedTokens];
        long padded = (long)(m.PaddedVocab - m.Vocab) * m.Hidden;
        long need = checked(embed.ElementCount * (sizeof(float) + embed.Pieces.Max(p => p.StoredDType.SizeInBytes())) + padded * sizeof(float) + Slack);
        long chunk = input.ChunkBytes ?? LargestChunk;
        if (need <= chunk) return true;
        string why = $"the mean of the {m.Vocab} real vocabulary rows reads the [{m.Vocab}, {m.Hidden}] tensor in one pass, {Tensors.ByteSize.Format(need)}, "
                     + $"more than one chunk holds ({Tensors.ByteSize.Format(chunk)}, half of --max-buffer; at most {Tensors.ByteSize.Format(LargestChunk)})";
        if (choice == MegaDsVocabPadding.Mean)
            throw new FormatOptionException("--vocab-padding", $"--vocab-padding mean: {why}; {(2 * need <= 2 * LargestChunk ? $"use --max-buffer {Tensors.ByteSize.Format(2 * need)} or " : "use ")}--vocab-padding zero");
        notes.Add($"the {m.PaddedVocab - m.Vocab} padded vocabulary rows are written as zeros (as a universal checkpoint load leaves them), not as Megatron-DeepSpeed's converter fills them"
                  + $" (the mean of the real rows): {why}{(need <= LargestChunk ? $"; --max-buffer {Tensors.ByteSize.Format(2 * need)} would give the mean" : "")}");
        return false;
    }

    /// <summary>The config with tie_word_embeddings as written (--tie-embeddings may differ from the source's).</summary>
    private static string WithTie(string config, bool tied)
    {
        var c = System.Text.Json.Nodes.JsonNode.Parse(config)!.AsObject();
        bool was = c["tie_word_embeddings"] is System.Text.Json.Nodes.JsonValue v && v.TryGetValue(out bool b) && b;
        if (was == tied) return config;
        c["tie_word_embeddings"] = tied;
        return c.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    private static string Text(WriteInput input, string path, string option) =>
        input.Files.TryGetValue(path, out string? text) ? text : throw new InvalidOperationException($"{option} {path} was not read by rank 0");

    /// <summary>The training job's DeepSpeed config: --ds-config, else the deepspeed_config_dict of --megatron-args, else null (built from the args).</summary>
    private static PyDict? DsConfigOf(WriteInput input, MegaDsOptions o, string? userArgs)
    {
        try
        {
            if (o.DsConfig is string path)
            {
                using JsonDocument doc = JsonDocument.Parse(Text(input, path, "--ds-config"));
                return DeepSpeed.DsConfig.ToPy(doc.RootElement) as PyDict ?? throw new FormatOptionException("--ds-config", $"--ds-config {path}: not a JSON object");
            }
            if (userArgs is not null)
            {
                using JsonDocument doc = JsonDocument.Parse(userArgs);
                if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("deepspeed_config_dict", out JsonElement e) && e.ValueKind == JsonValueKind.Object)
                    return (PyDict)DeepSpeed.DsConfig.ToPy(e);
            }
        }
        catch (JsonException e)
        {
            throw new FormatOptionException(o.DsConfig is null ? "--megatron-args" : "--ds-config", $"{o.DsConfig ?? o.MegatronArgs}: not valid JSON: {e.Message}");
        }
        return null;
    }

    private static int ZeroStage(MegaDsOptions o, PyDict? ds)
    {
        int? fromConfig = ds?.Get("zero_optimization") is PyDict z && z.Get("stage") is PyInt s ? (int)s.AsLong : null;
        if (o.ZeroStage is int given && fromConfig is int c && c != given)
            throw new FormatOptionException("--zero-stage", $"--zero-stage {given} but --ds-config says zero_optimization.stage {c}");
        int stage = o.ZeroStage ?? fromConfig ?? 1;
        if (stage is not (0 or 1)) throw new FormatOptionException("--ds-config", $"zero_optimization.stage {stage}: Megatron-DeepSpeed pipelines run ZeRO stage 0 or 1");
        return stage;
    }

    /// <summary>
    /// Which optimizer DeepSpeed (0.14.4) builds, whose state the files hold: BF16_Optimizer for bf16 at ZeRO stage 0,
    /// and at stage 1 when <c>data_types.grad_accum_dtype</c> is fp32; otherwise (stage 1) its ZeRO-1 optimizer.
    /// </summary>
    private static bool Bf16Optimizer(PyDict ds, int stage, string source)
    {
        if (ds.Get("fp16") is PyDict f && f.Get("enabled") is PyBool { Value: true })
            throw new FormatOptionException("--ds-config", $"{source} enables fp16: --to megads writes bf16 checkpoints");
        if (ds.Get("bf16") is not PyDict b || b.Get("enabled") is not PyBool { Value: true })
            throw new FormatOptionException("--ds-config", $"{source} does not enable bf16 (bf16.enabled): --to megads writes bf16 checkpoints");
        bool fp32Accum = ds.Get("data_types") is PyDict t && t.Get("grad_accum_dtype") is PyString { Value: "fp32" or "float32" or "float" };
        return stage == 0 || fp32Accum;
    }

    /// <summary>
    /// The param-group keys written are those of torch's Adam/AdamW (Megatron's 'adam' and 'adamw') or DeepSpeed's
    /// FusedAdam ('adam' with ds_fused_adam); another optimizer class would find keys it does not have.
    /// </summary>
    private static void CheckOptimizerClass(MegatronArgs args)
    {
        string optimizer = args.Str("optimizer") ?? "adam";
        bool cpuAdam = args.Flag("cpu_optimizer") && !args.Flag("cpu_torch_adam");
        if (optimizer is not ("adam" or "adamw") || cpuAdam || (optimizer == "adamw" && args.Flag("ds_fused_adam")))
            throw new FormatOptionException("--megatron-args", $"Megatron optimizer '{optimizer}'{(cpuAdam ? " with DeepSpeedCPUAdam" : "")}: --to megads writes the state of torch's Adam/AdamW ('adam', 'adamw') or DeepSpeed's FusedAdam ('adam' with ds_fused_adam)");
    }

    private static void CheckBatch(MegatronArgs args, MegaDsModel m)
    {
        long micro = args.MicroBatch, gbs = args.GlobalBatch;
        if (micro < 1 || gbs % (micro * m.Dp) != 0)
            throw new FormatOptionException("--ds-config", $"the global batch {gbs} is not a multiple of micro-batch {micro} x data-parallel size {m.Dp}");
    }

    /// <summary>Every HF tensor the model needs, with its shape; a tied target refuses a separate output head.</summary>
    private static void CheckCatalog(SourceCatalog catalog, MegaDsModel m)
    {
        long h = m.Hidden, q = (long)m.Heads * m.HeadDim, kv = (long)m.KvHeads * m.HeadDim;
        var expected = new List<(string, long[])> { (ShardSplit.HfEmbedTokens, [m.Vocab, h]), (ShardSplit.HfNorm, [h]) };
        for (int i = 0; i < m.Layers; i++)
        {
            string p = $"model.layers.{i}.";
            expected.Add((p + "input_layernorm.weight", [h]));
            expected.Add((p + "post_attention_layernorm.weight", [h]));
            expected.Add((p + "self_attn.q_proj.weight", [q, h]));
            expected.Add((p + "self_attn.k_proj.weight", [kv, h]));
            expected.Add((p + "self_attn.v_proj.weight", [kv, h]));
            expected.Add((p + "self_attn.o_proj.weight", [h, q]));
            expected.Add((p + "mlp.gate_proj.weight", [m.Ffn, h]));
            expected.Add((p + "mlp.up_proj.weight", [m.Ffn, h]));
            expected.Add((p + "mlp.down_proj.weight", [h, m.Ffn]));
        }
        if (!m.Tied) expected.Add((ShardSplit.HfLmHead, [m.Vocab, h]));
        else if (catalog.Contains(ShardSplit.HfLmHead))
            throw new UnsupportedCheckpointException(catalog.Root, "the source has its own lm_head.weight but the target ties the head to the embeddings (--tie-embeddings): use --tie-embeddings false or auto");
        foreach (var (name, shape) in expected)
        {
            if (!catalog.Contains(name))
                throw new UnsupportedCheckpointException(catalog.Root, $"the source has no '{name}', which a Llama of {m.Layers} layers has (config.json)");
            SourceTensor s = catalog[name];
            if (!s.Shape.SequenceEqual(shape)) throw new ShapeMismatchException(catalog.Root, name, shape, s.Shape.ToArray(), $"the model of config.json is {m}");
        }
    }
}
