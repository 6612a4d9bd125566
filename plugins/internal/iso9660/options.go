package iso9660

// Option sets an optional property of an Image.
type Option func(*options)

type options struct {
	volumeID    string
	publisher   string
	biosBoot    string
	efiBoot     string
	catalog     string
	hybridMBR   []byte
	mbrID       uint32
	mbrIDSet    bool
	catalogHide bool
}

// WithVolumeID sets the volume identifier (at most 32 characters of
// A-Z, 0-9 and _; other characters become _, lower case is raised). The
// default is "CDROM".
func WithVolumeID(id string) Option { return func(o *options) { o.volumeID = id } }

// WithPublisher sets the publisher identifier recorded in the primary volume
// descriptor (at most 128 characters).
func WithPublisher(p string) Option { return func(o *options) { o.publisher = p } }

// WithBIOSBoot makes the file at path (an entry of the image, e.g.
// "isolinux/isolinux.bin") the El Torito default entry for x86 BIOS: no
// emulation, 4 sectors of 512 bytes loaded at 0x7C0, with the boot info
// table (volume descriptor LBA, file LBA, length, checksum) patched into
// bytes 8 to 63 of the copy in the image, as isolinux and GRUB's
// eltorito.img expect.
func WithBIOSBoot(path string) Option { return func(o *options) { o.biosBoot = path } }

// WithEFIBoot adds the file at path (a FAT image holding an EFI system
// partition) as an El Torito no-emulation entry for platform 0xEF: the
// default entry when there is no BIOS boot image, a section of its own
// otherwise.
func WithEFIBoot(path string) Option { return func(o *options) { o.efiBoot = path } }

// WithBootCatalog sets the path at which the El Torito boot catalog appears
// in the tree (default "boot.catalog"); with an empty path the catalog is
// written but has no name.
func WithBootCatalog(path string) Option {
	return func(o *options) { o.catalog, o.catalogHide = path, path == "" }
}

// WithHybridMBR writes an isohybrid MBR in the first sector, so the image
// also boots from a disk (a USB stick) through the BIOS boot image, which
// must be an isolinux.bin with the hybrid signature. template is
// isohdpfx.bin (its first 432 bytes are the boot code); the MBR gets the
// boot image's LBA, a disk signature, one bootable partition of type 0x17
// covering the image, and the image is padded to a whole MiB (64 heads × 32
// sectors), as isohybrid and xorriso do.
func WithHybridMBR(template []byte) Option {
	return func(o *options) { o.hybridMBR = append([]byte(nil), template...) }
}

// WithMBRID sets the disk signature of the hybrid MBR. The default is
// derived from the epoch and the volume identifier.
func WithMBRID(id uint32) Option { return func(o *options) { o.mbrID, o.mbrIDSet = id, true } }
