using System.Text.RegularExpressions;
using Ckptmpi.Errors;
using Ckptmpi.Formats.Torch.Pickle;

namespace Ckptmpi.Formats.Universal;

/// <summary>How ds_to_universal joins a parameter's tensor-rank slices, and the markers it records in each state file.</summary>
internal enum MergeKind
{
    /// <summary>Every tensor rank holds the same values (norms): rank 0's slice, no marker.</summary>
    Replicated,

    /// <summary>Two sub-parameters stacked on dim 0 per rank (fused SwiGLU): all ranks' first halves, then all second halves.</summary>
    TwoSubParams,

    /// <summary>Slices joined along <see cref="MergeRule.CatDim"/>.</summary>
    Cat,
}

/// <summary>
/// One parameter's merge, decided from the patterns of Megatron's <c>universal_checkpoint_info</c> in the order
/// ds_to_universal tries them: TP-replicated, then two sub-params, then concatenation along dim 1 for row-parallel
/// parameters and dim 0 otherwise; vocabulary parameters additionally lose the padded rows. Patterns are Python
/// <c>re.match</c> expressions: anchored at the start only.
/// </summary>
internal sealed record MergeRule(MergeKind Kind, int CatDim, bool Vocab)
{
    public static MergeRule For(string name, PyDict info, string file)
    {
        bool Matches(string key)
        {
            if (info.Get(key) is not PyList list) return false;
            int n = 0;
            foreach (PyValue p in list.Items)
            {
                if (p is not PyString s) throw new CheckpointFormatException(file, null, $"universal_checkpoint_info.{key} holds a non-string pattern");
                if (Regex.IsMatch(name, @"\A(?:" + s.Value + ")", RegexOptions.CultureInvariant)) n++;
            }
            if (n > 1) throw new CheckpointFormatException(file, null, $"'{name}' matches {n} patterns of universal_checkpoint_info.{key}");
            return n == 1;
        }
        bool vocab = Matches("vocabulary_parameter_patterns");
        if (Matches("tp_replicated_parameter_patterns")) return new(MergeKind.Replicated, 0, vocab);
        if (Matches("parameter_to_average_patterns") || info.Get("parameter_with_sub_params") is PyList { Items.Count: > 0 })
            throw new UnsupportedCheckpointException(file, $"'{name}' is averaged over tensor ranks or has sub-param shapes; only Llama-style GPTModelPipe models are supported");
        if (Matches("parameter_with_2_sub_params_cat_dim_0")) return new(MergeKind.TwoSubParams, 0, vocab);
        return new(MergeKind.Cat, Matches("parameter_with_row_parallelism_patterns") ? 1 : 0, vocab);
    }

    /// <summary>The merged shape from one tensor rank's slice shape.</summary>
    public long[] Merged(long[] slice, int tp)
    {
        long[] s = (long[])slice.Clone();
        if (Kind != MergeKind.Replicated) s[CatDim] = checked(s[CatDim] * tp);
        return s;
    }

    /// <summary>The dict around the tensor in fp32.pt, exp_avg.pt and exp_avg_sq.pt, in ds_to_universal's key order.</summary>
    public PyDict Markers(PyTensor param)
    {
        var d = new PyDict();
        if (Kind != MergeKind.Replicated) d.Add("cat_dim", new PyInt(CatDim));
        if (Kind == MergeKind.TwoSubParams) d.Add("param_n_sub_params", new PyInt(2));
        if (Vocab) d.Add("vocab_tensor", PyBool.True);
        d.Add("param", param);
        return d;
    }
}
