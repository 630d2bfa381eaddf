; Inno Setup recipe for the Windows installer (docs/deployment.md, "Windows"). NOT RUN in this
; project's CI machine (Linux); .github/workflows/installers.yml runs it on a Windows runner.
;
;   pyinstaller --noconfirm build.spec                    -> dist\pneumonia-xray\
;   iscc /DAppVersion=0.1.0 packaging\windows\pneumonia-xray.iss   -> dist\pneumonia-xray-0.1.0-setup.exe
;
; The same parts as the Debian package: the bundle under Program Files, the machine settings
; in %ProgramData%\pneumonia-xray\config.json (kept on upgrade and uninstall: IT's file), a
; Start-menu entry, the .dcm association, and the bundle's self-test after install.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{5B0F2A57-3C1E-4D0B-9F5E-7A1C2E9D4B61}
AppName=Pneumonia X-ray Triage
AppVersion={#AppVersion}
AppPublisher=pneumonia-xray
DefaultDirName={autopf}\pneumonia-xray
DefaultGroupName=Pneumonia X-ray Triage
PrivilegesRequired=admin
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=pneumonia-xray-{#AppVersion}-setup
Compression=lzma2
SolidCompression=yes
ChangesAssociations=yes
UninstallDisplayIcon={app}\pneumonia-xray.exe

[Files]
Source: "..\..\dist\pneumonia-xray\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
; IT's machine settings: written once, never replaced by an upgrade, left by the uninstaller
Source: "..\linux\config.json"; DestDir: "{commonappdata}\pneumonia-xray"; Flags: onlyifdoesntexist uninsneveruninstall

[Icons]
Name: "{group}\Pneumonia X-ray Triage"; Filename: "{app}\pneumonia-xray.exe"

[Registry]
Root: HKA; Subkey: "Software\Classes\.dcm\OpenWithProgids"; ValueType: string; ValueName: "pneumonia-xray.dicom"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\pneumonia-xray.dicom"; ValueType: string; ValueName: ""; ValueData: "DICOM image"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\pneumonia-xray.dicom\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\pneumonia-xray.exe"" ""%1"""

[Code]
// The bundle's self-test after every install and upgrade; a failure fails the setup loudly
// (exit code and message; the files stay for IT to read the reason).
procedure CurStepChanged(CurStep: TSetupStep);
var
  Code: Integer;
begin
  if CurStep = ssPostInstall then
  begin
    if not Exec(ExpandConstant('{app}\pneumonia-xray-cli.exe'), '--self-test', '',
                SW_HIDE, ewWaitUntilTerminated, Code) or (Code <> 0) then
    begin
      SuppressibleMsgBox('The pneumonia-xray self-test FAILED (exit code ' + IntToStr(Code) +
        '). Run "' + ExpandConstant('{app}') + '\pneumonia-xray-cli.exe --self-test" in a ' +
        'command prompt for the reason.', mbCriticalError, MB_OK, IDOK);
      RaiseException('post-install self-test failed');
    end;
  end;
end;
