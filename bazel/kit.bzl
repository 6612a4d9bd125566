"""Bazel rules that build kit systems and packages as hermetic actions.

    load("@kit//bazel:kit.bzl", "kit_package", "kit_system")

kit_package builds a `kit pkg` directory into an OCI image layout;
kit_system builds one system (its specs and lock file) into the declared
files of its formats, with the images of its deps imported into a cache of
its own first. The command lines come from //bazel/private:commands.bzl,
which testing/bazel runs as kit invocations; docs/bazel.md describes both
rules, what they guarantee and what was never run under Bazel.
"""

load(
    "//bazel/private:commands.bzl",
    "kit_package_commands",
    "kit_system_commands",
    "kit_system_outputs",
    "kit_system_plugins",
    "lock_path",
)

KitImageInfo = provider(
    doc = "An image kit_system imports into its cache: an OCI image layout directory.",
    fields = {"layout": "File: the OCI image layout (a directory)"},
)

def _kit_package_impl(ctx):
    rel = "/".join([p for p in [ctx.label.package, ctx.attr.dir] if p])
    want = (rel + "/pkg.yml") if rel else "pkg.yml"
    pkg_yml = None
    for f in ctx.files.srcs:
        if f.short_path == want or f.short_path.endswith("/" + want):
            pkg_yml = f
    if pkg_yml == None:
        fail("kit_package %s: srcs has no %s" % (ctx.label, want))
    layout = ctx.actions.declare_directory(ctx.label.name + ".oci")
    cache = ctx.actions.declare_directory(ctx.label.name + ".kitcache")
    kit = ctx.executable.kit
    cmd = kit_package_commands(
        kit = kit.path,
        pkg_dir = pkg_yml.dirname,
        layout_dir = layout.path,
        cache_dir = cache.path,
        arch = ctx.attr.arch,
        source_date_epoch = ctx.attr.source_date_epoch,
    )
    reqs = {"requires-network": "1"} if ctx.attr.network else {"block-network": "1"}
    ctx.actions.run_shell(
        command = cmd.script,
        env = cmd.env,
        inputs = ctx.files.srcs,
        outputs = [layout, cache],
        tools = [kit],
        mnemonic = "KitPackage",
        progress_message = "kit pkg build %{label}",
        execution_requirements = reqs,
    )
    return [
        DefaultInfo(files = depset([layout])),
        OutputGroupInfo(kit_cache = depset([cache])),
        KitImageInfo(layout = layout),
    ]

kit_package = rule(
    implementation = _kit_package_impl,
    doc = "Builds a kit package (pkg.yml) into an OCI image layout, NAME.oci.",
    attrs = {
        "arch": attr.string(default = "amd64", values = ["amd64", "arm64"]),
        "dir": attr.string(doc = "The package directory relative to the BUILD file's package; default: the package itself."),
        "kit": attr.label(default = Label("//cmd/kit"), executable = True, cfg = "exec"),
        "network": attr.bool(doc = "The package downloads the .debs its pkg.lock pins (debian or kernel entries)."),
        "source_date_epoch": attr.int(default = 0),
        "srcs": attr.label_list(allow_files = True, mandatory = True, doc = "pkg.yml, pkg.lock and every files[].src."),
    },
)

def _kit_system_impl(ctx):
    outs = [ctx.actions.declare_file(n) for n in kit_system_outputs(ctx.attr.out_name or ctx.label.name, ctx.attr.formats, ctx.attr.format_outputs)]
    cache = ctx.actions.declare_directory(ctx.label.name + ".kitcache")
    images = []
    for d in ctx.attr.deps:
        if KitImageInfo in d:
            images.append(d[KitImageInfo].layout)
        else:
            images.extend(d.files.to_list())
    configs = {}
    inputs = list(ctx.files.specs) + [ctx.file.lock] + ctx.files.srcs + images
    for target, fmt in ctx.attr.format_config.items():
        f = target.files.to_list()
        if len(f) != 1:
            fail("kit_system %s: format_config of %s: want one JSON file" % (ctx.label, fmt))
        configs[fmt] = f[0].path
        inputs.append(f[0])
    kit = ctx.executable.kit
    plugins = ctx.files.plugins
    cmd = kit_system_commands(
        kit = kit.path,
        name = ctx.attr.out_name or ctx.label.name,
        specs = [f.path for f in ctx.files.specs],
        formats = ctx.attr.formats,
        out_dir = outs[0].dirname,
        cache_dir = cache.path,
        images = [f.path for f in images],
        arch = ctx.attr.arch,
        source_date_epoch = ctx.attr.source_date_epoch,
        mirrors = ctx.attr.mirrors,
        format_config = configs,
        disk_size = ctx.attr.disk_size,
        plugin_dirs = sorted({p.dirname: True for p in plugins}.keys()),
    )
    reqs = {"requires-network": "1"} if ctx.attr.mirrors else {"block-network": "1"}
    ctx.actions.run_shell(
        command = cmd.script,
        env = cmd.env,
        inputs = inputs,
        outputs = outs + [cache],
        tools = [kit] + plugins,
        mnemonic = "KitBuild",
        progress_message = "kit build %{label}",
        execution_requirements = reqs,
    )
    return [
        DefaultInfo(files = depset(outs)),
        OutputGroupInfo(kit_cache = depset([cache])),
    ]

_kit_system = rule(
    implementation = _kit_system_impl,
    attrs = {
        "arch": attr.string(default = "amd64", values = ["amd64", "arm64"]),
        "deps": attr.label_list(allow_files = True, doc = "kit_package targets and OCI image layouts / docker-save tarballs imported into the cache."),
        "disk_size": attr.string(),
        "format_config": attr.label_keyed_string_dict(allow_files = [".json"], doc = "JSON file → format it configures."),
        "format_outputs": attr.string_list_dict(doc = "Output suffixes of formats kit's table does not know."),
        "formats": attr.string_list(default = ["kernel+initrd"]),
        "kit": attr.label(default = Label("//cmd/kit"), executable = True, cfg = "exec"),
        "lock": attr.label(allow_single_file = [".lock"], mandatory = True),
        "mirrors": attr.string_dict(doc = "registry → mirror URL; the action may use the network only then."),
        "out_name": attr.string(doc = "Base name of the outputs; default: the target name."),
        "plugins": attr.label_list(allow_files = True, cfg = "exec", doc = "Plugin binaries (kit-plugin-NAME)."),
        "source_date_epoch": attr.int(default = 0),
        "specs": attr.label_list(allow_files = [".yml", ".yaml", ".hcl"], mandatory = True),
        "srcs": attr.label_list(allow_files = True, doc = "Local files the specs read."),
    },
)

def kit_system(name, spec = None, specs = None, lock = None, formats = ["kernel+initrd"], plugins = None, **kwargs):
    """Builds a kit system into the files of its formats (NAME-kernel, NAME-initrd.img, ...).

    Args:
      name: the target name and the base name of the outputs.
      spec: the spec (short for specs = [spec]).
      specs: the specs, in merge order.
      lock: the lock file; default: the first spec's name with .lock
        (x.yml → x.lock), as kit build keeps it.
      formats: the formats to build.
      plugins: plugin binaries; default: kit's own plugins the formats need.
      **kwargs: the other attributes (deps, srcs, mirrors, format_config,
        format_outputs, disk_size, arch, source_date_epoch, kit, out_name,
        and Bazel's common ones).
    """
    if (spec == None) == (specs == None):
        fail("kit_system %s: give spec or specs" % name)
    specs = [spec] if spec != None else specs
    if lock == None:
        lock = lock_path(specs[0])
    if plugins == None:
        plugins = [
            Label("//plugins/%s/cmd/kit-plugin-%s" % (p, p))
            for p in kit_system_plugins(formats)
        ]
    _kit_system(name = name, specs = specs, lock = lock, formats = formats, plugins = plugins, **kwargs)
