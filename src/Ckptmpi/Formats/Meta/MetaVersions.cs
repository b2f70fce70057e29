namespace Ckptmpi.Formats.Meta;

/// <summary>
/// The Llama line of a model, which Meta's files do not record but which decides the embedding's MP split and the
/// HF config's context length and special tokens (as transformers' conversion script takes it from --llama_version).
/// </summary>
public static class MetaVersions
{
    public static readonly string[] Known = ["2", "3", "3.1"];

    /// <summary>From the rope settings and vocabulary: scaled rope means 3.1, Llama 3's theta or vocabulary means 3, else 2.</summary>
    public static string Infer(bool scaledRope, double ropeTheta, long vocab) =>
        scaledRope ? "3.1" : ropeTheta >= 500_000 || vocab >= 128_000 ? "3" : "2";

    /// <summary>HF's <c>max_position_embeddings</c> for the line, as transformers' script writes it.</summary>
    public static long MaxPositionEmbeddings(string version) => version switch { "3.1" => 131072, "3" => 8192, _ => 4096 };

    public static (long Bos, long Eos) SpecialTokens(string version) => version == "2" ? (1, 2) : (128000, 128001);
}
