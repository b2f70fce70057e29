namespace Ckptmpi.Model;

internal static class FamilyCheck
{
    /// <exception cref="ArgumentException"><paramref name="config"/> belongs to another family.</exception>
    public static void Owns(IModelFamily family, ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!ReferenceEquals(config.Family, family))
            throw new ArgumentException($"{config.Path}: config is for family '{config.Family.Name}', not '{family.Name}'", nameof(config));
    }
}
