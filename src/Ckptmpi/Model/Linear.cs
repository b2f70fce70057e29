namespace Ckptmpi.Model;

/// <summary>How PyTorch layers register their parameters, for the families' tensor lists.</summary>
internal static class Linear
{
    /// <summary><c>nn.Linear(in, out)</c>: <c>weight [out, in]</c>, then <c>bias [out]</c> when present.</summary>
    public static void Add(List<CanonicalTensor> tensors, string module, long outFeatures, long inFeatures, bool bias)
    {
        tensors.Add(new(module + ".weight", [outFeatures, inFeatures]));
        if (bias) tensors.Add(new(module + ".bias", [outFeatures]));
    }

    /// <summary>
    /// GPT-2's <c>Conv1D(nf, nx)</c>: a Linear stored transposed, <c>weight [in, out]</c>, then <c>bias [out]</c> (always).
    /// </summary>
    public static void AddConv1D(List<CanonicalTensor> tensors, string module, long outFeatures, long inFeatures)
    {
        tensors.Add(new(module + ".weight", [inFeatures, outFeatures]));
        tensors.Add(new(module + ".bias", [outFeatures]));
    }

    /// <summary><c>nn.LayerNorm(n)</c>: <c>weight [n]</c>, then <c>bias [n]</c>.</summary>
    public static void AddLayerNorm(List<CanonicalTensor> tensors, string module, long n)
    {
        tensors.Add(new(module + ".weight", [n]));
        tensors.Add(new(module + ".bias", [n]));
    }
}
