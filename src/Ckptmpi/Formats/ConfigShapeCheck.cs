using Ckptmpi.Errors;
using Ckptmpi.Model;
using Ckptmpi.Tensors.Layout;

namespace Ckptmpi.Formats;

/// <summary>
/// Proves a source's tensors agree with the <c>config.json</c> beside them before anything is planned (bad input of the kind
/// "shapes contradicting config.json"): every tensor the model family names in its canonical list must have the
/// shape the config implies. A config of an unknown architecture is not an error here (there is nothing to check
/// against); a contradiction is, naming config.json, the tensor, its file and both shapes.
/// </summary>
public static class ConfigShapeCheck
{
    /// <exception cref="ShapeMismatchException">a tensor's shape contradicts config.json.</exception>
    public static void Check(SourceCatalog catalog, string configPath)
    {
        ModelConfig config;
        try
        {
            config = ModelConfig.Load(configPath);
        }
        catch (UnsupportedCheckpointException e)
        {
            Serilog.Log.Debug("shapes not checked against {Config}: {Reason}", configPath, e.Message);
            return;
        }
        foreach (CanonicalTensor expected in config.CanonicalTensors())
        {
            if (!catalog.Contains(expected.Name)) continue;
            SourceTensor actual = catalog[expected.Name];
            if (actual.Shape.SequenceEqual(expected.Shape)) continue;
            string where = actual.Pieces.Count > 0 ? $"the tensor in {actual.Pieces[0].File}" : "the tensor";
            throw new ShapeMismatchException(configPath, expected.Name, expected.Shape, actual.Shape,
                $"{where} contradicts config.json (hidden_size {config.HiddenSize}, intermediate_size {config.IntermediateSize}, "
                + $"heads {config.NumAttentionHeads}/{config.NumKeyValueHeads}, vocab_size {config.VocabSize}); the config belongs to another model or the weights are damaged");
        }
    }
}
