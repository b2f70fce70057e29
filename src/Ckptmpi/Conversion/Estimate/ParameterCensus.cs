using System.Text.RegularExpressions;
using Ckptmpi.Model;

namespace Ckptmpi.Conversion.Estimate;

/// <summary>
/// The two numbers DeepSpeed's ZeRO memory estimators take from a live model (its <c>model_to_params</c>):
/// the total parameter count, and the largest number of parameters owned directly by one module
/// (<c>sum(p.numel() for p in m.parameters(recurse=False))</c>), where a parameter's module is its name
/// without the last component. Counted from names and shapes alone.
/// </summary>
public sealed record ParameterCensus(
    long TotalParameters,
    long LargestLayerParameters,
    string LargestLayerModule,
    int TensorCount,
    int ModuleCount,
    IReadOnlyList<string> ExcludedTensors,
    long ExcludedParameters)
{
    /// <summary>
    /// Counts <paramref name="tensors"/>, leaving out every tensor whose name <paramref name="exclude"/> matches
    /// anywhere (search semantics, like Python's <c>re.search</c>: <c>lm_head</c> removes <c>lm_head.weight</c>).
    /// Each name is one parameter: callers pass every stored tensor once, so tied weights, which checkpoints
    /// store once, are counted once, as DeepSpeed dedupes them by storage pointer.
    /// Ties for the largest module go to the first one in parameter order.
    /// </summary>
    /// <exception cref="ArgumentException">A name occurs twice, or an element count is negative.</exception>
    public static ParameterCensus Take(IEnumerable<(string Name, long Elements)> tensors, Regex? exclude = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var perModule = new Dictionary<string, long>(StringComparer.Ordinal);
        var moduleOrder = new List<string>();
        var excluded = new List<string>();
        long total = 0, excludedParams = 0;
        int count = 0;
        foreach (var (name, elements) in tensors)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(elements);
            if (!seen.Add(name)) throw new ArgumentException($"tensor '{name}' is listed twice", nameof(tensors));
            if (exclude is not null && exclude.IsMatch(name))
            {
                excluded.Add(name);
                excludedParams = checked(excludedParams + elements);
                continue;
            }
            count++;
            total = checked(total + elements);
            string module = CanonicalTensor.ModuleOf(name);
            if (perModule.TryGetValue(module, out long sum)) perModule[module] = checked(sum + elements);
            else { perModule[module] = elements; moduleOrder.Add(module); }
        }

        string largestModule = "";
        long largest = 0;
        foreach (string m in moduleOrder)
        {
            if (perModule[m] > largest) { largest = perModule[m]; largestModule = m; }
        }
        return new ParameterCensus(total, largest, largestModule, count, moduleOrder.Count, excluded, excludedParams);
    }

    /// <summary>Census of a config-only model: <see cref="ModelConfig.CanonicalTensors"/>.</summary>
    public static ParameterCensus Take(IEnumerable<CanonicalTensor> tensors, Regex? exclude = null) =>
        Take(tensors.Select(t => (t.Name, t.ElementCount)), exclude);
}
