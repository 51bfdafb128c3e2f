// Known-answer vectors: messages written by gpg 2.2.40, rnp 0.16.3 and sq 0.27.0 with the
// passphrase "pvesafe test vector" over the plaintext kVectorPlain. session_key is what
// `gpg --show-session-key` printed (algorithm:key); for messages without an encrypted session
// key it is the S2K output, so it checks pvesafe's S2K independently of pvesafe's reader.
#pragma once

namespace pvesafe::crypto::testing {

inline constexpr char kVectorPassphrase[] = "pvesafe test vector";
inline constexpr char kVectorPlain[] =
    "The quick brown fox jumps over the lazy dog.\n"
    "The quick brown fox jumps over the lazy dog.\n";

struct Vector {
  const char* name;
  const char* how;
  const char* message_hex;
  const char* session_key;  // "algo:HEX"
  bool has_esk;
};

inline constexpr Vector kVectors[] = {
    {"gpg_default", "gpg -c (default compression: ZIP, old-format headers, indeterminate length)",
     "8c0d040903021bda4bcc735cf2d1ffd26301bef188543ce625f4e29780c471cbd4ebc1636ae401c1f8e66af3"
     "217fed89a5ccb8a7280a56e44a51515e712814f8eb2f8997c648935b3a7d5bc96ccc5b845f21495536696d34"
     "101da0f6481eec84cf986615315832450477c4fbcb5a25efdb55dbd9"
     , "9:ABE1A9FC38C4332B3B47F04F0BB6EA657FB4A99C1956CC3CC88BA681788A1938", false},
    {"gpg_zip", "gpg -c --compress-algo zip",
     "8c0d040903024d40e7a50c548ff5ffd263014c95e79ad16f9b9981a9f9b09c19c32a2a92a969559ddcd42813"
     "9ce851eb9aa9f27be7f2b6622757bb37749b6973dc86111ba54c50a2431227cb40a5ea1347d9055113d6ccd5"
     "d860514fcb8308c96fa1dd49f1e433af05a17aa02220f3132c5d2006"
     , "9:B1AF53EE2491C2E2B1AD065E747138F6DF941ADBB0D7EFAFAA61D1A05D012875", false},
    {"gpg_zlib", "gpg -c --compress-algo zlib",
     "8c0d04090302f9780880a5d781d6ffd269011147aaa5b5bd6f494b39d66c684497d09e5ccaa328d16aebffdb"
     "245d865e5132b94c515a0f0bd7fef9dd26ce0ea4aeb60a06f57cc89484a67f116272423bb218e4856bb2898c"
     "7ad2e81274efafc4e941d0a55e0dc50218c283dcc9ac7682d933ea4f6a6e31e8b099"
     , "9:899EC386E824A70A3734AF803AAF2B577EA1544DFB7F7B999A60B4391942D11E", false},
    {"gpg_bzip2", "gpg -c --compress-algo bzip2",
     "8c0d0409030290b7b0616f195336ffd29c0160147ad09a22cb87c8a64b65d2ae0a8433154d89d40ecc52dd41"
     "86c0d5cdbc896d7e8fb714cca11fb9993acb464b0e498b67f7062b95489597b5c17dc1f5c99e64e18357a8a4"
     "6d8da5f3086cb9ef69720aa5247fc3506aae674ed8e7d314f44d4ca4d44ede7503d702dcab861ad3e9420028"
     "c61c614117092be15475948a09a230951494120e9f8101ab7e6e01a2ad49c114377dd1a864b4ae96b5"
     , "9:610E9B4A706E1F9C03EB23244F6CEF31DD3364977B89784FF0E153EB67928177", false},
    {"gpg_none", "gpg -c --compress-algo none",
     "8c0d04090302d4f6f550fc8876e5ffd28b01cdd563a8917901d69fb23a2e215ca9886054d6f4f2864eff0203"
     "b870bf2145089ca7f18f2d94175110e5f4744bee79a7acfd535c6c952747a6c000a7a34aa63a5b747c5e21d4"
     "5d91ce767594c1c6f80fad381a1b6700dfa13425ffef089b5c3dc24554ddfbfbb04e3ec526012007a9fd122f"
     "64dbc720116ead597ce716555f731acb8cac8ce8fd16ea1e"
     , "9:9B67ABCA127D565D7AEB94318053707FEA606CDA235484BFEDCDF4377B8B1FA7", false},
    {"gpg_s2k0", "gpg -c --s2k-mode 0 (simple S2K, SHA-1, two hash contexts for AES-256)",
     "8c0404090002d28b018cbba5caeb9a9cce55af9937ee5d74381b7ad6dc8e2ad6b42d256368900ba0e2186eaa"
     "62b002fc05adc932aa2ffff1004ad495e7c3bec8c88af6090ceff760eb791211a397373c04ab86e8bb274ff5"
     "2101e78452ac7053c1eefebf8e06009dc7ed2c538d618489aadf7ab154160c34951f6fa08b1258ef723043d4"
     "79cbb1ad901171aa652120a1de115e"
     , "9:1977BA1FB6E820B437263C44732A1C0DE4191A4BE442EF6194821C9250FF2EE6", false},
    {"gpg_s2k1", "gpg -c --s2k-mode 1 (salted S2K)",
     "8c0c04090102b2f7578004f1b865d28b01c25057ca5c9e5e28cb3f216bacad21b1ed509bcc06a8c8bac0bcc1"
     "d32f3ae1f48a8e79ce73562d84123f4f7b02dd4c4441b493b194fad7939a63c352612cb915736792ead9d573"
     "27b5b3b34ceac1af72cb444e9f935a0b04a18a0b16e5a0b446038f0322eeccdf99ec6df76932c7e101294ac0"
     "117cf30bd89a57ebc249957bd0a36288e5347527cdcd93"
     , "9:B6B971484752D3D8C526A1CA3EB5965860106F69BC873092FA0C530AFE6E2058", false},
    {"gpg_s2k3sha1", "gpg -c --s2k-digest-algo SHA1 --s2k-count 65536",
     "8c0d040903026abda5227819865260d28b01ac5b54b9b9097a55e3b118463d92afbe55ff5f716de8926a013a"
     "087edf7198445f6b2cee171a54ff8080b0efc860bfcc780bab5671a239c0e5dcdebb924dc201d26577d4821d"
     "1d84ecd31c4a3d7cbb47aeec8b13b197940714e373ced286c3f3ffee23122461ab05c9612fe6711f413767b9"
     "e6191aae5ab02195b58caf13157a415d98f1245dd398f285"
     , "9:63893A22E9ED61EEDE512B594D45A9064A76E5BCFD5456AEB3A229D1DBD82C17", false},
    {"gpg_aes128", "gpg -c --cipher-algo AES128",
     "8c0d040703026109111014e3b69cffd28b01a6df486266f6798d25c2af95f152df443c9e72b42e1753b1fb9f"
     "220b8b8fe3aaef51e50810dcf06495696e7106299dfe07e41c7e7e4c024b5ce9699f460995bc098345a83ff5"
     "a9b13342c9e71c68a8e30cb5bbbc0b01a2635df1cb31f9efb77dd4e7ecd8fb71d8d15de0b45f4b7a9dce74ab"
     "54fcc94c396f2073ca15f6d891ad1984783e7b3d76f8ff3d"
     , "7:DD665AFEC273B2CA174F6C3D07027C10", false},
    {"gpg_aes192", "gpg -c --cipher-algo AES192",
     "8c0d04080302bc88ac78404430afffd28b01e3c244d7c2d1e621ab1d5599f6a787c7884112110c47770a4131"
     "b07082862f34559c32897a5402d0055b135608b5807663c7fe968da667f779045ab8e7ee6dbabae094081cff"
     "71a9c6a821654e19729017b9d3957f271bd0582b7dd2837451fd19f4d1337df10e86e805db89a1d1fff976ac"
     "33f3e8993f3429d3cefb247e411eec6e75ed51c28ad16f5b"
     , "8:71D29BAAC8922A88B683430033070C568B1C805043541A50", false},
    {"gpg_cast5", "gpg -c --cipher-algo CAST5 (64-bit block)",
     "8c0d040303027738272984e167ddffd2830164fb4b6c1f5679e816b9909c6e9fef66e111d23177bbc9c62adf"
     "a149448a941aa2361c0bc45f8bf49092e52784c28768ef43e8ec011fb0844ecb4ea200c5ee486d49dbf269f8"
     "88ed6ce9903666890f4ea2047cf21052c9b2df0322e2a5388510c9d170a45479b8c039a51f11bd35a6b5f91e"
     "104c3685db33ebfd3de586e5ff9a1708"
     , "3:8C074D32BB34FF88F7ACC2898DFE6A57", false},
    {"gpg_blowfish", "gpg -c --cipher-algo BLOWFISH",
     "8c0d04040302e7634bb0d6db1e19ffd28301ad3942fb617decfad33eddc41db258463eb625e45b213a2d6bad"
     "8407215ae7cdd68b1dc1e312b1c46d680d9a1210440ea6b72efb59040c34e2b62b429d84528f9d399f0bf0ab"
     "ff7aee45ba6398dde2a4dc0eb5977a9cc12e29eb0e20cf9dcfc9974f76c1ac2e04ece280e22d7b7be8dc5eaa"
     "ede50b5c06dfb6e1d77197db149e40e8"
     , "4:F227657509C1D7890B3A00CDBDD3B1A5", false},
    {"gpg_3des", "gpg -c --cipher-algo 3DES",
     "8c0d04020302d3fd355a41cc01e0ffd28301809b09fc44469fedbad51010dc9d8b889d817057213e4317fbb2"
     "8c721e767067dd4aa2459f2c8c598fe3cf6ca2da644456fcf87b5cf362a896be6860729efa8df90f476d4538"
     "9a7e273cf5ae71653122df26754e2bc27b21d35126f65e2dfe27506246e183310657dbdf926dbb70b8061402"
     "41d3b64cc1425737513e6bb9a2900e7a"
     , "2:7A2EE03D23BCBB09DFC75B4337BA610FC738AF6FDC05BDBA", false},
    {"gpg_camellia256", "gpg -c --cipher-algo CAMELLIA256",
     "8c0d040d0302503b844de9049a1effd28b011eb578a489388a22a2fa22b4ed4e4a0a5088bf56fe8bba16256d"
     "670846eae3b24bfd5169c0b87094fe4037f3b82dfaee6cefa11417eaf77728eeebc8805397f10aadebfee1e4"
     "619b11278e31935be21cc8e7b7a04fca18d262fbc1aa91a483b274ffa615d7b791c4e577a4099bb361cd819c"
     "8f056529552e1545d8f5f2f2ce8e5928a16e8019f726074a"
     , "13:5A6C5CA02ED1A4D9CD1FECEA1B8D692A1587E57B4B7D504F457D8D98DE0A692D", false},
    {"gpg_twofish", "gpg -c --cipher-algo TWOFISH (not in OpenSSL: kUnsupported)",
     "8c0d040a03021174d33c2e4686a6ffd28b016364a409250b1ef1d38add80f6672d5daa55f8612b5344c448a5"
     "6d8623c6d714f461fbcde28222c237470aed57e9b476175f0aab0fd23384e322e868610c4d9be3ed42d13f72"
     "2eacb8a7428f7c633f73fd8fae1cf7e4c4712c8a2c4a94bfe5542cd42023b19d96cea7f58f21a3ccaa1e4651"
     "e04a9f75949dad414fe68342e70b3939dd2e19251e2b39ae"
     , "10:B82C7F9204E74AEEB534CFE5D8FD0185937E695035D2B9C29A8A5096EFBB781B", false},
    {"gpg_idea", "gpg -c --cipher-algo IDEA (not in this OpenSSL build: kUnsupported)",
     "8c0d040103020e4a22d1ec9e5b0fffd28301cad4db3e6168991e83458125b01ebb956cf284773af0d4fcb1ca"
     "f0a4bade3a05c2e7910990ecae3f9be7801f1c721c44f2c6c7bd4410f014845697ea687ac138f754c55af8f8"
     "bddee09bade803cca84b93e49840eccdfda792a02f5cc5b89be1e361932f6282a840f517face8e5168f135e8"
     "3ed1444bd14c046dba58b7167059ff7f"
     , "1:790984032DD6814421B982942114651B", false},
    {"rnp", "rnp -c (ZIP)",
     "c30d04090308dafc6392e120508cfdd26a0190b7f29c97d4c850fc3259469bf24db62606a4ed693aaeb7fe93"
     "11b8ed83d75809b35fdf0c19073870658c24224729590c29403e8874928307b1460732d8e79e840fd09e23bf"
     "592cde1450364d9d263cbb0e1636f191162e1f2bda392e09b1798c413f38ef118d82d2"
     , "9:3C90A2B8CDA28925413D5FC3997E90CC92850C8A91FD17AF33F968A4ACB5074F", false},
    {"rnp_z0", "rnp -c -z 0",
     "c30d0409030863506331e8169422fad291018a6d44067ff50b376b20675e3ee31cded2df222c675b9e2b82d1"
     "3ea53efd79fde12f13c90d41148c95b4894d41c322523e6597ff43ac998048845f4a545d0a9152206489ffe5"
     "3e6326d8ff676020eff89aa8d29aa9cc330c6c2d979cacfccd44027e500c1519c85d6f0bbff337cf7f5f18c3"
     "4a59133caba859a2304298d1a1c3814281a28225154466cbf4be576b5168"
     , "9:6391798313B2A8F622CCDC3F6FB21E21562CF8FC6DECAC436A8D7C9CF47FC8E4", false},
    {"sq", "sq encrypt --symmetric (encrypted session key, padded ZIP packet)",
     "c32e04090308474eee2db56e5e0affd31e0c32e13364eba85634eccc0b2654d3be8d6114089a9a3030875213"
     "802fce6dd29301f4763c6d90c393e63e546b077864093238d8189ced83251685c2b11b94365fcba1205fb31d"
     "61a9812c7d2dc7be794bf5780e1871bc406566bd60e4f0e1503ed77ce22c324a9767c736a1b9bfeeaab82f3c"
     "dfc8a5d9dddf257da38bac459ea3bbf7e29c70d8ff7c7402b44237b7bd1e60bfdd69d1e075afcb93f3bdafcc"
     "8703dd568f68efc749bd62163a50361f6409d4543d"
     , "9:C6FE876F505C10277DB2404826105AF7E86570B50D8130810FC59347578E6D02", true},
};

// gpg --compress-algo bzip2 -c of 10 MiB of zero bytes (143 bytes).
inline constexpr char kBzip2Zeros10MiB[] =
    "8c0d040903020f051120e7a8d7cbffd27e0164655d72dcc29a53274a9172eb2401658cd565e3450f0e56a418"
    "406e858b541986ab30835c6059832c9d92c5c703cc771871b0c046a1a447d44c25c1052773791f9ad47e140b"
    "b249150f8fd799bf6e98ab365e915703c98796fb7c07cce81d641842d1e7e7d5c2a1be49aea4917fd5e0d1e8"
    "62a9cc8c07552cb367acba"
    ;

}  // namespace pvesafe::crypto::testing
