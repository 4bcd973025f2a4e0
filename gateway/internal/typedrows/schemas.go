package typedrows

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// loadFiles compiles or reads the source's own descriptors; nil without schemas.
func loadFiles(cfg Config) (*protoregistry.Files, error) {
	switch {
	case cfg.Image != "" && (len(cfg.Files) > 0 || len(cfg.ProtoPaths) > 0):
		return nil, keyErr("image and proto_paths/files exclude each other", "schemas")
	case cfg.Image != "":
		return readImage(abs(cfg.BaseDir, cfg.Image))
	case len(cfg.Files) > 0:
		return compile(cfg)
	case len(cfg.ProtoPaths) > 0:
		return nil, keyErr("proto_paths needs files, the .proto files to compile", "schemas", "files")
	}
	return nil, nil
}

func abs(base, p string) string {
	if filepath.IsAbs(p) || base == "" {
		return p
	}
	return filepath.Join(base, p)
}

func compile(cfg Config) (*protoregistry.Files, error) {
	paths := make([]string, 0, len(cfg.ProtoPaths))
	for i, p := range cfg.ProtoPaths {
		p = abs(cfg.BaseDir, p)
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			return nil, keyErr(fmt.Sprintf("%q is not a directory", p), "schemas", "proto_paths", i)
		}
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		paths = []string{abs(cfg.BaseDir, ".")}
	}
	for i, f := range cfg.Files {
		if !found(paths, f) {
			return nil, keyErr(fmt.Sprintf("%q is in none of proto_paths %q", f, paths), "schemas", "files", i)
		}
	}
	var errs []error
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: paths}),
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			errs = append(errs, err)
			return nil // report them all
		}, nil),
	}
	linked, err := c.Compile(context.Background(), cfg.Files...)
	if err != nil {
		if len(errs) > 0 {
			err = errors.Join(errs...)
		}
		return nil, keyErr("compile: "+err.Error(), "schemas", "files")
	}
	files := new(protoregistry.Files)
	for _, f := range linked {
		if err := register(files, f); err != nil {
			return nil, keyErr(err.Error(), "schemas", "files")
		}
	}
	return files, nil
}

func found(paths []string, file string) bool {
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(p, file)); err == nil {
			return true
		}
	}
	return false
}

// register adds f and its imports (the well-known types among them) once each.
func register(files *protoregistry.Files, f protoreflect.FileDescriptor) error {
	if _, err := files.FindFileByPath(f.Path()); err == nil {
		return nil
	}
	imports := f.Imports()
	for i := 0; i < imports.Len(); i++ {
		if err := register(files, imports.Get(i).FileDescriptor); err != nil {
			return err
		}
	}
	return files.RegisterFile(f)
}

// readImage reads a FileDescriptorSet (buf build -o x.binpb, protoc
// --descriptor_set_out --include_imports); imports it lacks resolve against the
// files linked into the binary (the well-known types).
func readImage(path string) (*protoregistry.Files, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, keyErr(err.Error(), "schemas", "image")
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		return nil, keyErr(fmt.Sprintf("%s is not a binary FileDescriptorSet: %v", path, err), "schemas", "image")
	}
	files := new(protoregistry.Files)
	for _, fdp := range set.GetFile() {
		if _, err := files.FindFileByPath(fdp.GetName()); err == nil {
			continue
		}
		f, err := protodesc.NewFile(fdp, resolvers{files, protoregistry.GlobalFiles})
		if err != nil {
			return nil, keyErr(fmt.Sprintf("file %s: %v", fdp.GetName(), err), "schemas", "image")
		}
		if err := files.RegisterFile(f); err != nil {
			return nil, keyErr(err.Error(), "schemas", "image")
		}
	}
	return files, nil
}

// resolvers looks a file or descriptor up in each resolver in turn.
type resolvers [2]*protoregistry.Files

func (r resolvers) FindFileByPath(p string) (protoreflect.FileDescriptor, error) {
	f, err := r[0].FindFileByPath(p)
	if err != nil {
		return r[1].FindFileByPath(p)
	}
	return f, nil
}

func (r resolvers) FindDescriptorByName(n protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := r[0].FindDescriptorByName(n)
	if err != nil {
		return r[1].FindDescriptorByName(n)
	}
	return d, nil
}
