using Ckptmpi.Parallel;
using Ckptmpi.Parallel.Native;

namespace Ckptmpi.Tests.Parallel.Native;

public sealed class MpiAbiTests
{
    [Test]
    public void MPICH_ABI_handles_are_the_values_of_mpich_mpi_h()
    {
        MpiAbi a = MpiAbi.Mpich;
        Assert.That(new[] { a.CommWorld, a.Byte, a.Int64, a.Double, a.OpMax, a.OpMin, a.OpSum, a.ErrorsReturn },
            Is.EqualTo(new nint[] { 0x44000000, 0x4c00010d, 0x4c00083a, 0x4c00080b, 0x58000001, 0x58000002, 0x58000003, 0x54000001 }));
    }

    [Test]
    public void MPICH_ABI_sentinels_differ_from_Open_MPI_as_documented()
    {
        MpiAbi a = MpiAbi.Mpich;
        Assert.That((a.InPlace, a.StatusIgnore, a.ProcNull, a.MaxLibraryVersionString, a.MaxErrorString), Is.EqualTo(((nint)(-1), (nint)1, -1, 8192, 512)));
    }

    [Test]
    public void Open_MPI_globals_are_read_from_the_real_library()
    {
        Assume.That(File.Exists("/usr/lib/x86_64-linux-gnu/libmpi.so.40"), Is.True, "Open MPI (libmpi.so.40) is not installed");
        // Loading (not initializing) the library only runs its constructors; the handles are addresses of globals.
        nint lib = System.Runtime.InteropServices.NativeLibrary.Load("libmpi.so.40");
        MpiAbi a = MpiAbi.Detect(lib);
        nint[] handles = [a.CommWorld, a.Byte, a.Int64, a.Double, a.OpSum, a.OpMax, a.OpMin, a.ErrorsReturn];
        Assert.That(a.Family, Is.EqualTo(MpiAbiFamily.OpenMpi));
        Assert.That(handles, Is.All.Not.Zero);
        Assert.That(handles, Is.Unique);
        Assert.That((a.InPlace, a.StatusIgnore, a.ProcNull), Is.EqualTo(((nint)1, (nint)0, -2)));
    }

    [Test]
    public void The_launcher_family_decides_which_sonames_are_tried_and_in_which_order()
    {
        Assert.That(MpiLibrary.Candidates(MpiAbiFamily.OpenMpi, launched: true), Is.EqualTo(new[] { "libmpi.so.40", "libmpi.so" }));
        Assert.That(MpiLibrary.Candidates(MpiAbiFamily.Mpich, launched: true), Is.EqualTo(new[] { "libmpi.so.12", "libmpich.so.12", "libmpi.so" }));
        Assert.That(MpiLibrary.Candidates(null, launched: true)[0], Is.EqualTo("libmpi.so.40"));
        Assert.That(MpiLibrary.Candidates(null, launched: false)[0], Is.EqualTo("libmpi.so.12"), "a forced singleton prefers MPICH: Open MPI forks orted");
    }
}
